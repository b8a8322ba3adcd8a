"""Old module paths of tsx 0.1, kept importable for one release with a warning.

In tsx 0.1 every implementation module was public (``tsx.optimizers.adam``,
``tsx.training.train_state``). They are private now (``tsx.optimizers._adam``)
and each package re-exports its public names explicitly. An old path still
works for one release: ``from tsx.optimizers.adam import scale_by_adam``,
``import tsx.training.train_state`` and ``tsx.base.GradientTransformation``
reach the private module and emit a ``DeprecationWarning`` naming the package
to import from instead.

Each old path is a placeholder module in ``sys.modules`` that forwards
attribute reads to the private module, imported on first use. Being already
in ``sys.modules``, an ``import`` of the old path never rebinds the package
attribute of the same name (``tsx.optimizers.adam`` stays the function).
"""


import importlib
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["OLD_MODULES", "getattr_or_raise", "install"]

# package -> the names its implementation modules had in tsx 0.1.
OLD_MODULES: dict[str, tuple[str, ...]] = {
    "tsx": (
        "base",
        "combine",
        "gradient_scaling",
        "linear_algebra",
        "update",
    ),
    "tsx.assignment": ("hungarian",),
    "tsx.contrib": (
        "acprop",
        "ademamix",
        "adopt",
        "cocob",
        "complex_valued",
        "dadapt_adamw",
        "dog",
        "galore",
        "madgrad",
        "mechanic",
        "momo",
        "muon",
        "privacy",
        "prodigy",
        "reduce_on_plateau",
        "sam",
        "schedule_free",
        "sophia",
    ),
    "tsx.experimental": (
        "aggregator",
        "averaging",
        "mean_and_variance",
        "variance_ema",
    ),
    "tsx.losses": (
        "classification",
        "ctc",
        "dice",
        "fenchel_young",
        "input_checks",
        "kl",
        "margin",
        "ranking",
        "regression",
        "self_supervised",
        "smoothing",
        "sparsemax",
    ),
    "tsx.masks": (
        "decay",
        "describe",
        "groups",
        "labels",
        "paths",
        "predicates",
    ),
    "tsx.microbatching": (
        "accumulators",
        "grad",
        "microbatch",
        "reshape",
        "vmap",
    ),
    "tsx.optimizers": (
        "adabelief",
        "adadelta",
        "adafactor",
        "adagrad",
        "adam",
        "adamax",
        "adan",
        "amsgrad",
        "backtracking_linesearch",
        "distance_over_gradients",
        "fromage",
        "lamb",
        "lars",
        "lbfgs",
        "linesearch_utils",
        "lion",
        "noisy_sgd",
        "novograd",
        "optimistic",
        "param_block",
        "polyak",
        "radam",
        "registry",
        "rmsprop",
        "rprop",
        "sgd",
        "sign",
        "sm3",
        "trust_ratio",
        "update_norm",
        "yogi",
        "zoom_linesearch",
    ),
    "tsx.perturbations": ("perturbed",),
    "tsx.projections": (
        "affine",
        "box",
        "l2",
        "simplex",
    ),
    "tsx.schedules": (
        "constant",
        "cosine",
        "exponential",
        "inject",
        "join",
        "onecycle",
        "piecewise",
        "polynomial",
        "sgdr",
        "warmup",
        "warmup_stable_decay",
    ),
    "tsx.second_order": ("diagonals",),
    "tsx.training": (
        "accumulation",
        "ema",
        "loss_scale",
        "telemetry",
        "train_state",
    ),
    "tsx.transforms": (
        "apply_every",
        "centralization",
        "clipping",
        "conditional",
        "constraints",
        "ema",
        "finiteness",
        "flatten",
        "freezing",
        "lookahead",
        "masking",
        "monitoring",
        "multi_steps",
        "noise",
        "partition",
        "per_example",
        "scaling",
        "trace",
        "weight_decay",
    ),
    "tsx.tree_utils": (
        "arithmetic",
        "casting",
        "moments",
        "params_mapping",
        "random_trees",
        "state_search",
    ),
}


class _OldModule(ModuleType):
    """Forwards attribute reads to ``target``, warning once per module."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.__dict__["_target"] = target
        self.__dict__["_warned"] = False

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            # Import machinery and introspection probe dunders: no warning.
            raise AttributeError(attr)
        if not self.__dict__["_warned"]:
            self.__dict__["_warned"] = True
            _warn(self.__name__, stacklevel=3)
        return getattr(importlib.import_module(self.__dict__["_target"]), attr)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__dict__["_target"]))


def _warn(fullname: str, stacklevel: int) -> None:
    package = fullname.rpartition(".")[0]
    warnings.warn(
        f"the module {fullname} is private since tsx 0.2; import its public "
        f"names from {package} instead.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def install() -> None:
    """Put a forwarding placeholder in ``sys.modules`` for every old path."""
    for package, names in OLD_MODULES.items():
        for name in names:
            fullname = f"{package}.{name}"
            if fullname not in sys.modules:
                sys.modules[fullname] = _OldModule(fullname, f"{package}._{name}")


def getattr_or_raise(package: str, name: str) -> ModuleType:
    """``package.name`` for an old module name (a placeholder), else AttributeError.

    For a package's module ``__getattr__``: old module names that are not
    shadowed by a public attribute (``tsx.base``, ``tsx.training.ema``).
    """
    if name in OLD_MODULES.get(package, ()):
        return sys.modules[f"{package}.{name}"]
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
