"""The import layers of ``docs/architecture.md`` hold in the code.

The ``Layers`` block of the architecture page lists tsx's units (root modules
and packages) from the bottom of the stack up. This test reads that block and
the source of every module, and fails on:

* an import of a unit listed later than the importing one (a higher layer);
* a cycle between units (which the order alone already rules out);
* a private name crossing units: ``tsx.<pkg>._module`` or ``_name`` imported
  from outside ``<pkg>``, except the root's core modules the page names.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tsx"


def _declared_order() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## Layers", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    units = []
    for line in block.strip().splitlines():
        if not line.startswith("tsx/"):
            continue  # a description's second line
        path = line.split()[0]
        name = path.rstrip("/").removesuffix(".py").replace("/", ".")
        units.append(name.removesuffix(".__init__"))
    return units


def _shared_core() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    match = re.search(r"Shared core modules: (.*?)\.\n", text, re.S)
    assert match, "docs/architecture.md names the shared core modules"
    return set(re.findall(r"`(tsx\.\w+)`", match.group(1)))


def _unit_of_module(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "tsx"
    candidate = PACKAGE / parts[1]
    if candidate.is_dir() or (PACKAGE / f"{parts[1]}.py").exists():
        return f"tsx.{parts[1]}"
    return "tsx"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    name = ".".join(rel.parts)
    return name.removesuffix(".__init__")


def _imports(path: pathlib.Path, module: str | None = None):
    """``(line, target unit, target module, names)`` of every tsx import."""
    module = module or _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tsx" or alias.name.startswith("tsx."):
                    yield node.lineno, _unit_of_module(alias.name), alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "tsx" and not target.startswith("tsx."):
                continue
            names = [a.name for a in node.names]
            if target == "tsx":
                # `from tsx import tree_utils` imports that unit.
                for name in names:
                    sub = _unit_of_module(f"tsx.{name}")
                    yield (
                        node.lineno,
                        sub,
                        f"tsx.{name}" if sub != "tsx" else "tsx",
                        ([] if sub != "tsx" else [name]),
                    )
            else:
                yield node.lineno, _unit_of_module(target), target, names


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_unit_is_placed_on_the_map():
    order = _declared_order()
    assert len(order) == len(set(order)), "a unit is listed twice"
    units = {_unit_of_module(_module_name(p)) for p in _sources()}
    assert units == set(order), (
        f"not on the map: {sorted(units - set(order))}; "
        f"on the map but absent: {sorted(set(order) - units)}"
    )


def _upward(path: pathlib.Path, module: str) -> list[str]:
    rank = {unit: i for i, unit in enumerate(_declared_order())}
    own = _unit_of_module(module)
    return [
        f"{module}:{line} imports {target}"
        for line, unit, target, _ in _imports(path, module)
        if unit != own and rank[unit] > rank[own]
    ]


def test_no_import_from_a_higher_layer():
    wrong = [w for p in _sources() for w in _upward(p, _module_name(p))]
    assert not wrong, "imports from a higher layer:\n" + "\n".join(wrong)


def test_no_cycle_between_units():
    edges: dict[str, set[str]] = {}
    for path in _sources():
        own = _unit_of_module(_module_name(path))
        for _, unit, _, _ in _imports(path):
            if unit != own:
                edges.setdefault(own, set()).add(unit)
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        if state.get(unit) == 2:
            return
        assert state.get(unit) != 1, "cycle: " + " -> ".join(trail + [unit])
        state[unit] = 1
        for nxt in sorted(edges.get(unit, ())):
            visit(nxt, trail + [unit])
        state[unit] = 2

    for unit in sorted(edges):
        visit(unit, [])


def test_no_private_name_crosses_units():
    core = _shared_core()
    wrong = []
    for path in _sources():
        own = _unit_of_module(_module_name(path))
        for line, unit, target, names in _imports(path):
            if unit == own or target in core:
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[1:])
            private_names = [
                n for n in names if n.startswith("_") and f"tsx.{n}" not in core
            ]
            if private_module or private_names:
                what = target if private_module else f"{target}: {private_names}"
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {what}")
    assert not wrong, "private names used across units:\n" + "\n".join(wrong)


def test_an_upward_import_is_caught(tmp_path):
    # The checks could pass by reading nothing: an upward import added to a
    # copy of a low module, inside a function as lazy imports are, is found.
    bad = tmp_path / "numerics.py"
    source = (PACKAGE / "numerics.py").read_text()
    bad.write_text(source + "\n\ndef f():\n    from tsx.optimizers import adam\n")
    assert _upward(bad, "tsx.numerics") == [
        f"tsx.numerics:{len(source.splitlines()) + 4} imports tsx.optimizers"
    ]
