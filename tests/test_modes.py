"""The Modes table of docs/architecture.md: each context is named where it acts.

A context that changes what a function emits must show: every function the
table lists for a context names that context in its docstring, and no module
of tsx defines a ``ContextVar`` the table does not account for.
"""

import ast
import importlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _table() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Modes", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        # A name is written `tsx.x` or, linked, {py:obj}`tsx.x`.
        cells = [
            re.sub(r"\{py:\w+\}`", "`", c.strip())
            for c in line.strip().strip("|").split("|")
        ]
        if len(cells) == 4 and cells[0].startswith("`tsx."):
            context = cells[0].strip("`")
            rows.append((context, re.findall(r"`(tsx\.[\w.]+)`", cells[3])))
    return rows


def _resolve(dotted: str):
    # Attribute by attribute: tsx.contrib.muon is the function, not the
    # deprecated module path of the same name.
    obj = importlib.import_module("tsx")
    for attr in dotted.split(".")[1:]:
        obj = getattr(obj, attr)
    return obj


def test_the_table_lists_the_three_contexts():
    contexts = [c for c, _ in _table()]
    assert contexts == [
        "tsx.validation.updates_checked",
        "tsx.numerics.checked_schedules",
        "tsx.sharding.distribute_matrix_work",
    ]


def test_every_affected_function_names_its_context():
    missing = []
    for context, functions in _table():
        short = context.rsplit(".", 1)[1]
        assert functions, context
        for name in functions:
            if short not in (_resolve(name).__doc__ or ""):
                missing.append(f"{name} does not name {short}")
    assert not missing, missing


def test_no_context_variable_outside_the_table():
    # A ContextVar is how a mode hides; each one must back a listed context.
    owners = {c.rsplit(".", 1)[0] for c, _ in _table()}
    found = set()
    for path in (ROOT / "tsx").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == (
                "ContextVar"
            ):
                rel = path.relative_to(ROOT).with_suffix("")
                module = ".".join(rel.parts)
                found.add(module.removesuffix(".__init__"))
    packages = {m if m.count(".") < 2 else m.rsplit(".", 1)[0] for m in found}
    assert packages <= owners, sorted(packages - owners)
