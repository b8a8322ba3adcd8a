"""A pytest plugin that resolves ``optax`` to tsx for Optax's own test files.

Loaded with ``-p benchmarks.optax_suite.conftest_shim`` when ``TSX_AS_OPTAX=1``.
Every ``optax`` module a test imports becomes a stand-in whose attributes are
tsx's public names: ``optax.adam`` is ``tsx.adam``, ``optax._src.alias.adam``
too, ``optax.contrib._muon.scale_by_muon`` is ``tsx.contrib.scale_by_muon``.
A name tsx does not export (an Optax-private helper such as
``optax._src.test_utils``) comes from the real Optax, and the test that used
it is recorded, so the report can set such tests apart. The ``*_test.py``
files themselves load unmodified from the Optax source tree.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types

ACTIVE = os.environ.get("TSX_AS_OPTAX") == "1"
# Test-only modules: always the real ones.
_REAL_MODULES = ("optax._src.test_utils",)
_current_test: list[str] = [""]
_fallbacks: dict[str, set[str]] = {}


def _load_real_optax() -> dict[str, types.ModuleType]:
    import optax

    # Every module file, also in folders without __init__.py (optax._src).
    root = os.path.dirname(optax.__file__)
    for folder, _, files in os.walk(root):
        for file in files:
            if file.endswith(".py") and not file.endswith("_test.py"):
                rel = os.path.relpath(os.path.join(folder, file), root)[:-3]
                name = ".".join(["optax", *rel.split(os.sep)])
                name = name.removesuffix(".__init__")
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass
    real = {
        name: mod
        for name, mod in sys.modules.items()
        if name == "optax" or name.startswith("optax.")
    }
    for name in real:
        del sys.modules[name]
    return real


def _tsx_namespaces(fullname: str) -> list[types.ModuleType]:
    import tsx
    import tsx.contrib

    names = [
        "contrib",
        "transforms",
        "tree_utils",
        "schedules",
        "losses",
        "projections",
        "perturbations",
        "second_order",
        "assignment",
        "experimental",
        "microbatching",
        "tree",
    ]
    parts = fullname.split(".")
    first = [parts[1]] if len(parts) > 1 and parts[1] in names else []
    spaces = [importlib.import_module(f"tsx.{n}") for n in first]
    spaces.append(tsx)
    spaces += [importlib.import_module(f"tsx.{n}") for n in names if n not in first]
    return spaces


class _Standin(types.ModuleType):
    def __init__(self, fullname: str, real: dict[str, types.ModuleType]):
        super().__init__(fullname)
        self.__path__ = []
        self._real = real

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        sub = f"{self.__name__}.{name}"
        if sub in self._real and isinstance(self._real[sub], types.ModuleType):
            return importlib.import_module(sub)
        if not name.startswith("_"):
            for space in _tsx_namespaces(self.__name__):
                if name in getattr(space, "__all__", ()) or (
                    space.__name__ == "tsx" and hasattr(space, name)
                ):
                    return getattr(space, name)
        real = self._real.get(self.__name__)
        if real is None or not hasattr(real, name):
            raise AttributeError(f"{self.__name__}.{name}")
        _fallbacks.setdefault(_current_test[0], set()).add(sub)
        return getattr(real, name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, real: dict[str, types.ModuleType], source_root: str):
        self.real = real
        self.source_root = source_root

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "optax" and not fullname.startswith("optax."):
            return None
        if fullname.endswith("_test"):
            file = os.path.join(self.source_root, *fullname.split(".")) + ".py"
            return importlib.util.spec_from_file_location(fullname, file)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        if spec.name in _REAL_MODULES:
            return self.real[spec.name]
        return _Standin(spec.name, self.real)

    def exec_module(self, module):
        pass


def pytest_configure(config):
    if not ACTIVE:
        return
    source_root = os.environ["OPTAX_SOURCE_ROOT"]
    real = _load_real_optax()
    sys.meta_path.insert(0, _Finder(real, source_root))


def pytest_runtest_setup(item):
    _current_test[0] = item.nodeid


def pytest_runtest_teardown(item):
    _current_test[0] = ""


def pytest_sessionfinish():
    if not ACTIVE:
        return
    out = os.environ.get("TSX_FALLBACK_REPORT")
    if out:
        report = {k: sorted(v) for k, v in _fallbacks.items()}
        with open(f"{out}.{os.getpid()}.json", "w") as f:
            json.dump(report, f)
