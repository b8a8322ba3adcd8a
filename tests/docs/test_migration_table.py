"""The migration page lists every difference between tsx's API and Optax's.

Optax is the oracle: its namespaces are compared with tsx's at run time, and
each difference found must be named on ``docs/migrating.md`` — an extra
top-level name, an extra keyword argument, a parameter tsx lacks, a default
that differs. A difference the page calls an open gap must still exist, so
the page is updated when the gap is closed.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types

import optax

import tsx
from tests.docs.markdown_blocks import DOCS
from tests.test_public_api import NAMESPACES

PAGE = (DOCS / "migrating.md").read_text()


def _mentioned(word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", PAGE) is not None


def _public(module) -> set[str]:
    return {
        n
        for n in dir(module)
        if not n.startswith("_")
        and not isinstance(getattr(module, n), types.ModuleType)
    }


def _pairs():
    for ns in NAMESPACES:
        ours = importlib.import_module("tsx" + (f".{ns}" if ns else ""))
        theirs = importlib.import_module("optax" + (f".{ns}" if ns else ""))
        for name in sorted(_public(ours) & _public(theirs)):
            a, b = getattr(theirs, name), getattr(ours, name)
            if not callable(a) or isinstance(a, type):
                continue
            try:
                yield ns, name, inspect.signature(a), inspect.signature(b)
            except (TypeError, ValueError):
                continue


def test_extra_top_level_names_are_listed():
    extra = _public(tsx) - _public(optax)
    # tsx's own modules are namespaces, listed as such on the page.
    unlisted = sorted(
        n for n in extra if not _mentioned(n) and not _mentioned(f"tsx.{n}")
    )
    assert not unlisted, f"add to docs/migrating.md: {unlisted}"


def test_extra_keyword_arguments_are_listed():
    unlisted = []
    for ns, name, theirs, ours in _pairs():
        for param in ours.parameters:
            if param in theirs.parameters:
                continue
            # nu_dtype/mu_dtype are listed by argument; others by function too.
            if not _mentioned(param) or (
                param not in ("nu_dtype", "mu_dtype") and not _mentioned(name)
            ):
                unlisted.append(f"{ns or 'tsx'}.{name}({param}=)")
    assert not unlisted, f"add to docs/migrating.md: {unlisted}"


def test_missing_parameters_and_changed_defaults_are_listed():
    unlisted = []
    for ns, name, theirs, ours in _pairs():
        for param, p in theirs.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            q = ours.parameters.get(param)
            if q is None:
                if not (_mentioned(name) and _mentioned(param)):
                    unlisted.append(f"{ns or 'tsx'}.{name} lacks {param}")
                continue
            plain = (type(None), bool, int, float, str, tuple)
            changed = (p.default is p.empty) != (q.default is q.empty) or (
                type(p.default) in plain and p.default != q.default
            )
            if changed and not _mentioned(name):
                unlisted.append(f"{ns or 'tsx'}.{name}: {param} default")
    assert not unlisted, f"add to docs/migrating.md: {unlisted}"
