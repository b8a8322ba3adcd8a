"""Every public name of tsx appears in the API reference.

The public names are listed here from the package itself: the top level, every
module and subpackage of ``tsx`` (``tsx.contrib``, ``tsx.tree``,
``tsx.training``, ...) and modules re-exported in their ``__all__``
(``tsx.experimental.aggregating``). The reference documents a name either
directly, in a ``tsx-api`` block of a page under ``docs/api/``, or as another
spelling of a documented object (``tsx.optimizers.adam`` is ``tsx.adam``),
which the Aliases page lists. ``test_build`` checks the same against the built
HTML.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types

import tsx
from tests.docs.markdown_blocks import DOCS

API_BLOCK = re.compile(r"^```\{tsx-api\}[ \t]+(\S+)[ \t]*\n(.*?)^```", re.S | re.M)


def tsx_namespaces() -> dict[str, types.ModuleType]:
    found = {"tsx": tsx}
    for info in pkgutil.iter_modules(tsx.__path__):
        if info.name.startswith("_"):
            continue
        found[f"tsx.{info.name}"] = importlib.import_module(f"tsx.{info.name}")
    pending = list(found.values())
    while pending:
        module = pending.pop()
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, types.ModuleType) and value.__name__ not in found:
                found[value.__name__] = value
                pending.append(value)
    return found


def public_names() -> dict[str, object]:
    """``{"tsx.adam": <function>, "tsx.tree.add": <function>, ...}``."""
    names = {}
    for ns_name, module in tsx_namespaces().items():
        listed = getattr(module, "__all__", None)
        candidates = set(listed) if listed is not None else set(dir(module))
        if listed is not None:
            # Public functions defined in the package but kept out of
            # ``__all__`` so the top-level star import skips them
            # (``tsx.optimizers.get``).
            for attr in dir(module):
                value = getattr(module, attr)
                home = getattr(value, "__module__", None) or ""
                if home.startswith(module.__name__ + "."):
                    candidates.add(attr)
        for attr in candidates:
            value = getattr(module, attr)
            if attr.startswith("_") or isinstance(value, types.ModuleType):
                continue
            names[f"{ns_name}.{attr}"] = value
    return names


def documented_names() -> dict[str, str]:
    found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for module, body in API_BLOCK.findall(page.read_text()):
            for line in body.splitlines():
                if line.strip():
                    found[f"{module}.{line.strip()}"] = page.name
    return found


def _same_object(a, b) -> bool:
    # ``Params = Any`` and friends are the same object under unrelated names;
    # only definitions (functions, classes, partials, jitted functions) count.
    return a is b and callable(a)


def test_the_namespaces_include_the_ones_users_know():
    spaces = set(tsx_namespaces())
    assert {
        "tsx",
        "tsx.contrib",
        "tsx.losses",
        "tsx.tree_utils",
        "tsx.tree",
        "tsx.training",
        "tsx.masks",
        "tsx.schedules",
        "tsx.transforms",
        "tsx.projections",
        "tsx.experimental.aggregating",
    } <= spaces


def test_every_documented_name_exists():
    missing = []
    for full in documented_names():
        module, _, attr = full.rpartition(".")
        if not hasattr(importlib.import_module(module), attr):
            missing.append(full)
    assert not missing, missing


def test_no_name_is_documented_twice():
    seen: dict[str, list[str]] = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for module, body in API_BLOCK.findall(page.read_text()):
            for line in body.splitlines():
                if line.strip():
                    seen.setdefault(f"{module}.{line.strip()}", []).append(page.name)
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    assert not twice, twice


def test_every_public_name_is_in_the_api_reference():
    documented = documented_names()
    objects = {}
    for full in documented:
        module, _, attr = full.rpartition(".")
        objects[full] = getattr(importlib.import_module(module), attr)
    public = public_names()
    assert len(public) > 600, len(public)  # the listing itself works
    missing = []
    for full, value in sorted(public.items()):
        if full in documented:
            continue
        short = full.rpartition(".")[2]
        same_name = any(
            d.rpartition(".")[2] == short and objects[d] is value for d in objects
        )
        same_object = any(_same_object(value, o) for o in objects.values())
        if not (same_name or same_object):
            missing.append(full)
    assert not missing, f"public names missing from docs/api/: {missing}"
