"""Sphinx helpers for the tsx docs: API blocks, alias tables, an output lexer.

* ``tsx-api`` directive: the body lists names of one namespace (one per line);
  it renders an autosummary table of them followed by the autodoc entry of
  each (``autofunction``, ``autoclass`` or ``autodata`` as fits the object),
  so a reference page is a curated list of names and nothing else.
* ``tsx-aliases`` directive: a table of every public name that is documented
  under another name (``tsx.transforms.adam`` is :func:`tsx.adam`,
  ``tsx.tree.add`` is :func:`tsx.tree_utils.tree_add`), for every namespace.
* At the start of a build every public name of every tsx namespace must be
  either in a ``tsx-api`` block or the same object as one that is; a name that
  is neither is a warning, so ``sphinx-build -W`` fails until it is documented.
* ``output`` code fences: the printed output of the ``python`` block above
  them (plain text); ``tests/docs`` checks that the two agree.
* Cross-references to another spelling of a documented name
  (``tsx.quantized_state`` for ``tsx.lowbit.quantized_state``), to a private
  module path of one, or by its short name from a docstring of the package
  that exports it (``scale_by_dog`` in ``tsx.contrib``) resolve to the
  documented entry; the build runs nitpicky, so any other unresolved tsx name
  fails it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.parsers.rst import Parser as RSTParser
from docutils.utils import new_document
from pygments.lexers.special import TextLexer
from sphinx.util import logging

logger = logging.getLogger(__name__)

# A ``tsx-api`` block in a Markdown page: ```{tsx-api} MODULE \n names ```.
API_BLOCK = re.compile(r"^```\{tsx-api\}[ \t]+(\S+)[ \t]*\n(.*?)^```", re.S | re.M)


# -- Public names ---------------------------------------------------------------


def namespaces() -> dict[str, types.ModuleType]:
    """``tsx``, each of its modules and packages, and modules in their ``__all__``."""
    import tsx

    found = {"tsx": tsx}
    for info in pkgutil.iter_modules(tsx.__path__):
        if info.name.startswith("_"):
            continue
        name = f"tsx.{info.name}"
        found[name] = importlib.import_module(name)
    queue = list(found.values())
    while queue:
        module = queue.pop()
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr)
            if isinstance(value, types.ModuleType) and value.__name__ not in found:
                found[value.__name__] = value
                queue.append(value)
    return dict(sorted(found.items()))


def public_names(module: types.ModuleType) -> list[str]:
    """The non-module public names of a namespace.

    ``__all__`` where there is one, plus public attributes defined in the
    namespace's own submodules but kept out of ``__all__`` on purpose (e.g.
    ``tsx.optimizers.get``, left out so that ``tsx``'s star import does not
    shadow anything); everything public for the top-level package.
    """
    if hasattr(module, "__all__"):
        names = list(module.__all__)
        prefix = module.__name__ + "."
        for attr in dir(module):
            value = getattr(module, attr)
            if (
                not attr.startswith("_")
                and attr not in names
                and not isinstance(value, types.ModuleType)
                and (getattr(value, "__module__", None) or "").startswith(prefix)
            ):
                names.append(attr)
    else:
        names = [n for n in dir(module) if not n.startswith("_")]
    return sorted(
        n for n in names if not isinstance(getattr(module, n), types.ModuleType)
    )


def documented_names(api_dir: Path) -> dict[str, str]:
    """``{"tsx.adam": "api/optimizers", ...}`` from the pages' ``tsx-api`` blocks."""
    docs_dir = api_dir.parent
    found: dict[str, str] = {}
    for page in sorted(api_dir.rglob("*.md")):
        docname = page.relative_to(docs_dir).with_suffix("").as_posix()
        for module, body in API_BLOCK.findall(page.read_text()):
            for name in _block_names(body):
                found[f"{module}.{name}"] = docname
    return found


def _block_names(body: str) -> list[str]:
    return [line.strip() for line in body.splitlines() if line.strip()]


def _resolve(full_name: str):
    module, _, attr = full_name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _is_definition(obj) -> bool:
    # Identity says "same object" only for things that have one definition;
    # plain values and typing aliases (``Params = Any``) are shared by
    # unrelated names.
    # (jitted functions and partials count: they are callables with a home).
    if inspect.isclass(obj) or inspect.isroutine(obj):
        return True
    return isinstance(obj, functools.partial) or (
        callable(obj) and hasattr(obj, "__wrapped__")
    )


def resolve_aliases(api_dir: Path):
    """Map every public name to where it is documented.

    Returns ``(aliases, missing)``: ``aliases`` maps each public name that is
    not documented itself to the documented name of the same object (same
    short name preferred), ``missing`` lists the names that have neither.
    """
    documented = documented_names(api_dir)
    objects = {name: _resolve(name) for name in documented}
    by_short: dict[str, list[str]] = {}
    for name in documented:
        by_short.setdefault(name.rpartition(".")[2], []).append(name)
    aliases: dict[str, str] = {}
    missing: list[str] = []
    for ns_name, module in namespaces().items():
        for attr in public_names(module):
            full = f"{ns_name}.{attr}"
            if full in documented:
                continue
            obj = getattr(module, attr)
            same_name = [d for d in by_short.get(attr, []) if objects[d] is obj]
            same_obj = [
                d for d, o in objects.items() if o is obj and _is_definition(obj)
            ]
            target = (same_name or same_obj or [None])[0]
            if target is None:
                missing.append(full)
            else:
                aliases[full] = target
    return aliases, missing


# -- Directives -----------------------------------------------------------------


def _entry_directive(obj) -> tuple[str, list[str]]:
    if inspect.isclass(obj):
        if issubclass(obj, tuple) and hasattr(obj, "_fields"):
            # A state NamedTuple: its signature is its field layout.
            return "autoclass", []
        return "autoclass", [":members:"]
    if inspect.isfunction(obj) or isinstance(obj, functools.partial):
        return "autofunction", []
    if inspect.isroutine(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
        return "autofunction", []
    return "autodata", []


class TsxApi(Directive):
    """``tsx-api MODULE``: summary table plus autodoc entries for listed names."""

    required_arguments = 1
    has_content = True

    def run(self):
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        names = _block_names("\n".join(self.content))
        lines = [f".. currentmodule:: {module_name}", "", ".. autosummary::", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
        for name in names:
            if not hasattr(module, name):
                raise self.error(f"{module_name} has no attribute {name!r}")
            directive, options = _entry_directive(getattr(module, name))
            lines.append(f".. {directive}:: {name}")
            lines += [f"   {option}" for option in options]
            lines.append("")
        return _parse(self, lines)


class TsxAliases(Directive):
    """``tsx-aliases``: every public name documented under another name."""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        aliases = env.app.tsx_aliases
        grouped: dict[str, list[tuple[str, str]]] = {}
        for alias, target in sorted(aliases.items()):
            grouped.setdefault(alias.rpartition(".")[0], []).append((alias, target))
        lines: list[str] = []
        for namespace, rows in sorted(grouped.items()):
            lines += [
                f".. rubric:: ``{namespace}``",
                "",
                ".. list-table::",
                "   :header-rows: 1",
                "   :widths: 1 1",
                "",
                "   * - name",
                "     - documented as",
            ]
            for alias, target in rows:
                lines += [f"   * - ``{alias}``", f"     - :py:obj:`{target}`"]
            lines.append("")
        return _parse(self, lines)


def _parse(directive: Directive, lines: list[str]):
    # The generated text is reStructuredText (autodoc directives), whatever
    # the page is written in: a MyST page's nested parser would read it as
    # Markdown. So parse it into a sub-document with the RST parser, as
    # MyST's own ``eval-rst`` does, and return its nodes.
    document = directive.state.document
    sub = new_document(document["source"], document.settings)
    sub.reporter = document.reporter
    RSTParser().parse("\n".join(lines) + "\n", sub)
    for node in sub.children:
        if isinstance(node, nodes.Element) and node["names"]:
            document.note_explicit_target(node, node)
    return sub.children


# -- Docstring compatibility ----------------------------------------------------------

# Napoleon only knows bare section headers ("Attributes:"); a header carrying a
# note, "Attributes (beyond Flax's ...):", would be read as text followed by an
# unexpected indentation. Move the note into a sentence before the header.
_SECTION_WITH_NOTE = re.compile(
    r"^(\s*)(Args|Arguments|Attributes|Returns|Raises|Yields|Examples?|Notes?)"
    r"\s+\((.*)$"
)


def _napoleon_section_notes(app, what, name, obj, options, lines) -> None:
    i = 0
    while i < len(lines):
        match = _SECTION_WITH_NOTE.match(lines[i])
        end = i
        while match and end < len(lines) and not lines[end].rstrip().endswith("):"):
            end += 1
        if match and end < len(lines):
            indent, section = match.group(1), match.group(2)
            words = [match.group(3)] + [line.strip() for line in lines[i + 1 : end + 1]]
            note = " ".join(w for w in words if w).rstrip()[: -len("):")].rstrip(" ;,")
            lines[i : end + 1] = [
                indent + note[:1].upper() + note[1:] + ".",
                "",
                indent + section + ":",
            ]
        i += 1


def _drop_type_docstrings(app, what, name, obj, options, lines) -> None:
    # A documented value (``DEFAULT_NO_DECAY``, a type alias such as
    # ``Rule``) with no docstring of its own would show its *type's*
    # docstring ("Built-in immutable sequence..."); show only its value.
    if what not in ("data", "attribute") or not lines:
        return
    type_doc = getattr(type(obj), "__doc__", None)
    if type_doc and "\n".join(lines).strip() == inspect.cleandoc(type_doc).strip():
        lines[:] = []


# -- Readable signatures ------------------------------------------------------------


# Modules that do not postpone annotations hand autodoc the evaluated type
# aliases, which print as long unions (``ScalarOrSchedule`` becomes ``float |
# Array | Callable[[Array | ndarray | ...], ...]``). Put the alias names back.
def _alias_replacements() -> list[tuple[str, str]]:
    import jax
    from sphinx.util.typing import stringify_annotation

    import tsx

    aliases = [
        ("~tsx.ScalarOrSchedule", tsx.ScalarOrSchedule),
        ("~tsx.Schedule", tsx.Schedule),
        ("~jax.typing.ArrayLike", jax.typing.ArrayLike),
    ]
    out = []
    for short, alias in aliases:
        for mode in ("smart", "fully-qualified-except-typing"):
            out.append((stringify_annotation(alias, mode), short))
    return out


def _short_signature(app, what, name, obj, options, signature, return_annotation):
    if what == "class" and isinstance(vars(obj).get("create"), classmethod):
        # A Flax struct built with ``create(...)`` (TrainState): its dataclass
        # constructor lists every field and is not what users call.
        return "", return_annotation
    replacements = app.tsx_signature_aliases
    for long, short in replacements:
        if signature:
            signature = signature.replace(long, short)
        if return_annotation:
            return_annotation = return_annotation.replace(long, short)
    if signature:
        # String annotations (partials, NamedTuple fields) arrive as written.
        signature = _WRITTEN_ARRAYLIKE.sub("~jax.typing.ArrayLike", signature)
    return signature, return_annotation


_WRITTEN_ARRAYLIKE = re.compile(r"(?<![~\w.])jax\.typing\.ArrayLike")


# -- Setup --------------------------------------------------------------------------


# -- Cross-references to other spellings ---------------------------------------------


def _public_package(module: str) -> str:
    """``tsx.contrib`` for ``tsx.contrib._sophia``: the package that exports it."""
    return ".".join(part for part in module.split(".") if not part.startswith("_"))


def _documented_target(app, target: str, module: str) -> str | None:
    """The documented name a reference to ``target`` (from ``module``) means."""
    if target in app.tsx_documented:
        return target
    if target in app.tsx_aliases:
        return app.tsx_aliases[target]
    if target.startswith("tsx."):
        try:
            obj = _resolve(target)
        except (ImportError, AttributeError):
            return None
        same = [d for d, o in app.tsx_objects.items() if o is obj]
        return same[0] if same else None
    short = target.rpartition(".")[2]
    package = _public_package(module)
    if f"{package}.{short}" in app.tsx_aliases:  # contrib.MuonDimensionNumbers
        return app.tsx_aliases[f"{package}.{short}"]
    named = [d for d in app.tsx_documented if d.rpartition(".")[2] == short]
    near = [d for d in named if d.rpartition(".")[0] == package]
    if near:
        return near[0]
    return named[0] if len(named) == 1 else None


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    found = _documented_target(app, target, node.get("py:module") or "")
    if found is None or found == target:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, "obj", found, node, contnode
    )


def _check_public_names(app) -> None:
    app.tsx_signature_aliases = _alias_replacements()
    api_dir = Path(app.srcdir) / "api"
    aliases, missing = resolve_aliases(api_dir)
    app.tsx_aliases = aliases
    app.tsx_documented = set(documented_names(api_dir))
    app.tsx_objects = {name: _resolve(name) for name in app.tsx_documented}
    for name in missing:
        logger.warning(
            "%s is public but not in the API reference: add it to a tsx-api "
            "block in docs/api/",
            name,
            type="tsx",
            subtype="api",
        )


def setup(app):
    app.add_lexer("output", TextLexer)
    app.add_directive("tsx-api", TsxApi)
    app.add_directive("tsx-aliases", TsxAliases)
    app.connect("builder-inited", _check_public_names)
    app.connect("missing-reference", _missing_reference)
    app.connect("autodoc-process-signature", _short_signature)
    # Before napoleon (priority 500) turns the sections into fields.
    app.connect("autodoc-process-docstring", _napoleon_section_notes, priority=400)
    app.connect("autodoc-process-docstring", _drop_type_docstrings, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
