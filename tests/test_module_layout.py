"""The package layout: private implementation modules, explicit re-exports, lazy Flax.

Every public attribute of a tsx package is what it says: a module file is
either private (``tsx/optimizers/_adam.py``) or a public namespace reachable
under its own name (``tsx.tree``). Importing tsx loads JAX only; the training
helpers (and with them Flax) load on first use.
"""

import importlib
import pkgutil
import subprocess
import sys
import types
import warnings

import pytest

import tsx


def _packages():
    found = [tsx]
    for info in pkgutil.walk_packages(tsx.__path__, prefix="tsx."):
        if info.ispkg:
            found.append(importlib.import_module(info.name))
    return found


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )


def test_import_tsx_loads_neither_flax_nor_optax():
    result = _run(
        "import sys, tsx\n"
        "tsx.adam(1e-3)\n"
        "print(sorted(m for m in ('flax', 'optax') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_training_loads_on_first_use():
    result = _run(
        "import sys, tsx\n"
        "assert 'flax' not in sys.modules\n"
        "TrainState = tsx.training.TrainState\n"
        "import flax.training.train_state as fts\n"
        "assert issubclass(TrainState, fts.TrainState)\n"
        "import tsx.training\n"
        "assert tsx.training.TrainState is TrainState\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_no_public_module_is_shadowed_by_a_function():
    shadowed = []
    for package in _packages():
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            value = getattr(package, info.name)
            if not isinstance(value, types.ModuleType):
                shadowed.append(f"{package.__name__}.{info.name}")
    assert not shadowed, shadowed


def test_every_package_lists_its_exports_and_they_exist():
    for package in _packages():
        names = package.__all__
        assert names, package.__name__
        assert len(set(names)) == len(names), package.__name__
        missing = [n for n in names if not hasattr(package, n)]
        assert not missing, (package.__name__, missing)


def test_public_functions_live_in_private_modules():
    # A function's home module is private, or a public namespace module.
    public_modules = {"tsx.numerics", "tsx.validation", "tsx.tree"}
    for package in _packages():
        for name in package.__all__:
            value = getattr(package, name)
            if not isinstance(value, types.FunctionType):
                continue
            home = value.__module__
            last = home.rsplit(".", 1)[-1]
            assert (
                last.startswith("_")
                or home in public_modules
                or home == "tsx.experimental.aggregating"
            ), (package.__name__, name, home)


def test_old_module_path_still_imports_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match=r"tsx\.optimizers\.adam.*private"):
        from tsx.optimizers.adam import scale_by_adam
    assert scale_by_adam is tsx.scale_by_adam
    # The import does not rebind the package attribute to the module.
    module = importlib.import_module("tsx.optimizers.adam")
    assert module.adam is tsx.adam
    assert tsx.optimizers.adam is tsx.adam


def test_old_module_read_as_an_attribute_warns_and_forwards():
    result = _run(
        "import warnings, tsx\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    gt = tsx.base.GradientTransformation\n"
        "    ema = tsx.training.ema.ema_update\n"
        "assert gt is tsx.GradientTransformation\n"
        "assert ema is tsx.training.ema_update\n"
        "print(sorted({str(x.message).split()[2] for x in w}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['tsx.base', 'tsx.training.ema']"


def test_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'adamm'"):
        tsx.optimizers.adamm  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tsx.nothing  # noqa: B018


def test_the_usage_guide_muon_alias_is_one_attribute_of_the_function():
    from tsx.contrib import muon

    assert isinstance(muon, types.FunctionType)
    from tsx.contrib._muon_alias import muon_with_momentum

    assert muon.muon is muon_with_momentum
    extra = set(vars(muon)) - {"__wrapped__", "__hyperparameters__"}
    assert extra == {"muon"}, extra
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        muon.muon(learning_rate=1e-3, momentum=0.9)
