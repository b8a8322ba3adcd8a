"""Build optimizers from their names, for configuration files.

``tsx.optimizers.get(name, **hyperparameters)`` returns the optimizer that
``tsx.<name>(**hyperparameters)`` builds, so a training script can read the
optimizer from an ``ml_collections`` config::

    config.optimizer = "adamw"
    config.optimizer_kwargs = {"learning_rate": 1e-3, "weight_decay": 1e-2}
    tx = tsx.optimizers.get(config.optimizer, **config.optimizer_kwargs)

Naming scheme:

* an optimizer at tsx's top level is named as there: ``"adamw"``, ``"sgd"``;
* one from :mod:`tsx.contrib` is ``"contrib.<name>"`` (``"contrib.muon"``).
  The bare name (``"muon"``) is accepted too when no top-level optimizer has
  it; :func:`available` lists only the canonical names;
* names are case-insensitive and ``-`` reads as ``_`` (``"Schedule-Free-AdamW"``
  is not special: it reads ``"schedule_free_adamw"``).

Optimizers are discovered when asked for, so ones added to tsx later are
found without registering them: an optimizer is a public function of the
namespace (not ``scale_by_*``) with a ``learning_rate`` parameter, a return
annotation naming ``GradientTransformation``, and no required parameter that
is itself a transformation (that excludes wrappers such as
``contrib.schedule_free``), plus the optimizers in :data:`_EXTRA` that take
no learning rate (``polyak_sgd``).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["available", "get"]

# Optimizers without a `learning_rate` parameter, by namespace.
_EXTRA = {"tsx": ("polyak_sgd",), "tsx.contrib": ()}
_NAMESPACES = (("tsx", ""), ("tsx.contrib", "contrib."))
_WRAPPED_NAMES = frozenset({"base_optimizer", "inner", "inner_opt", "optimizer"})


class OptimizerArgumentError(TypeError, ValueError):
    """Bad hyperparameters for :func:`get` (catch as TypeError or ValueError)."""


def _required(sig: inspect.Signature) -> list[inspect.Parameter]:
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        p for p in sig.parameters.values() if p.kind in kinds and p.default is p.empty
    ]


def _is_optimizer(name: str, obj: Any, extra: tuple[str, ...]) -> bool:
    if inspect.isclass(obj) or not callable(obj) or name.startswith("_"):
        return False
    if name in extra:
        return True
    if name.startswith("scale_by_"):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    if "learning_rate" not in sig.parameters:
        return False
    if "GradientTransformation" not in str(sig.return_annotation):
        return False
    for p in _required(sig):
        if p.name in _WRAPPED_NAMES or "GradientTransformation" in str(p.annotation):
            return False
    return True


def _registry() -> dict[str, Callable[..., Any]]:
    """Canonical name -> factory, discovered from the namespaces now."""
    found: dict[str, Callable[..., Any]] = {}
    for module_name, prefix in _NAMESPACES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # pragma: no cover - contrib is part of tsx
            continue
        names = getattr(module, "__all__", None) or dir(module)
        for name in names:
            obj = getattr(module, name, None)
            if obj is not None and _is_optimizer(name, obj, _EXTRA[module_name]):
                found[prefix + name] = obj
    return found


def available() -> list[str]:
    """The sorted canonical names :func:`get` accepts (see the module doc)."""
    return sorted(_registry())


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _resolve(name: str) -> tuple[str, Callable[..., Any]]:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    registry = _registry()
    key = _normalize(name)
    if key in registry:
        return key, registry[key]
    if "contrib." + key in registry:
        return "contrib." + key, registry["contrib." + key]
    candidates = list(registry) + [
        n.removeprefix("contrib.") for n in registry if n.startswith("contrib.")
    ]
    close = difflib.get_close_matches(key, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown optimizer {name!r}.{hint} tsx.optimizers.available() lists the "
        f"{len(registry)} known names."
    )


def _describe(sig: inspect.Signature) -> str:
    parts = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


def get(name: str, **hyperparameters: Any) -> Any:
    """Build the optimizer called ``name`` with the given hyperparameters.

    ``get("adamw", learning_rate=1e-3)`` is ``tsx.adamw(learning_rate=1e-3)``;
    ``get("contrib.muon", learning_rate=0.02)`` is
    ``tsx.contrib.muon(learning_rate=0.02)``. Hyperparameters are passed by
    keyword; any mapping works with ``**`` (e.g. an ``ml_collections``
    ``ConfigDict``).

    Raises:
      ValueError: unknown ``name`` (the message suggests close names).
      OptimizerArgumentError: (a ``TypeError`` and a ``ValueError``) an
        unknown or missing hyperparameter; the message lists the accepted
        ones. Out-of-range values raise the optimizer's own ``ValueError``.
    """
    canonical, factory = _resolve(name)
    sig = inspect.signature(factory)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in hyperparameters if k not in sig.parameters]
    if unknown and not accepts_any:
        suggestions = {
            k: difflib.get_close_matches(k, list(sig.parameters), n=1) for k in unknown
        }
        hints = "".join(
            f" ({k!r}: did you mean {v[0]!r}?)" for k, v in suggestions.items() if v
        )
        raise OptimizerArgumentError(
            f"{canonical}() got unexpected hyperparameter(s) {unknown}.{hints} "
            f"It accepts: {_describe(sig)}."
        )
    missing = [p.name for p in _required(sig) if p.name not in hyperparameters]
    if missing:
        raise OptimizerArgumentError(
            f"{canonical}() is missing required hyperparameter(s) {missing}. "
            f"It accepts: {_describe(sig)}."
        )
    positional_only = [
        p.name
        for p in sig.parameters.values()
        if p.kind is p.POSITIONAL_ONLY and p.name in hyperparameters
    ]
    if positional_only:  # pragma: no cover - no tsx optimizer has any
        raise OptimizerArgumentError(
            f"{canonical}() takes {positional_only} positionally only."
        )
    return factory(**hyperparameters)
