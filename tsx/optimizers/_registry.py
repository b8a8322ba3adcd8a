"""Optimizers by name, and building one from a configuration.

``tsx.optimizers.get(name, **hyperparameters)`` returns what
``tsx.<name>(**hyperparameters)`` builds, so a training script can read the
optimizer from an ``ml_collections`` config::

    tx = tsx.optimizers.get(config.optimizer, **config.optimizer_kwargs)

:func:`build` adds what every training script otherwise writes itself: a
learning rate or schedule, and weight decay with a mask, either *decoupled*
(the optimizer's own weight-decay argument, as in AdamW) or *L2* (``wd * p``
added to the gradient before the optimizer, as ``torch.optim.SGD`` does).

Names:

* an optimizer at tsx's top level is named as there: ``"adamw"``, ``"sgd"``;
* one from :mod:`tsx.contrib` is ``"contrib.<name>"`` (``"contrib.muon"``);
  the bare name (``"muon"``) is accepted too when no top-level optimizer has
  it;
* names are case-insensitive and ``-`` reads as ``_``.

The table below is the whole registry: adding an optimizer to tsx means adding
a row here (with the names of its decoupled weight-decay arguments, if any).
"""


import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from tsx._base import GradientTransformation, ScalarOrSchedule
from tsx._combine import chain
from tsx.lowbit import quantized_state
from tsx.transforms._weight_decay import add_decayed_weights

__all__ = ["OptimizerEntry", "available", "build", "get", "registry"]

WeightDecayMode = Literal["decoupled", "l2", "auto"]


class OptimizerEntry(NamedTuple):
    """One registered optimizer.

    Attributes:
      factory: the function that builds it (``tsx.adamw``).
      weight_decay: the name of its decoupled weight-decay argument, or None
        when it has none.
      weight_decay_mask: the name of the mask argument of that decay, or None
        when the decay cannot be masked.
    """

    factory: Callable[..., GradientTransformation]
    weight_decay: str | None = None
    weight_decay_mask: str | None = None


class OptimizerArgumentError(TypeError, ValueError):
    """Bad hyperparameters for :func:`get` (catch as TypeError or ValueError)."""


@functools.cache
def registry() -> dict[str, OptimizerEntry]:
    """The canonical name of every registered optimizer, and its entry."""
    # Imported here: tsx.contrib's optimizers import tsx.optimizers' modules.
    import tsx
    from tsx import contrib

    decayed = functools.partial(OptimizerEntry, weight_decay="weight_decay")
    return {
        "adabelief": OptimizerEntry(tsx.adabelief),
        "adadelta": decayed(tsx.adadelta, weight_decay_mask="weight_decay_mask"),
        "adafactor": OptimizerEntry(
            tsx.adafactor, "weight_decay_rate", "weight_decay_mask"
        ),
        "adagrad": OptimizerEntry(tsx.adagrad),
        "adam": OptimizerEntry(tsx.adam),
        "adamax": OptimizerEntry(tsx.adamax),
        "adamaxw": decayed(tsx.adamaxw, weight_decay_mask="mask"),
        "adamw": decayed(tsx.adamw, weight_decay_mask="mask"),
        "adan": decayed(tsx.adan, weight_decay_mask="mask"),
        "amsgrad": OptimizerEntry(tsx.amsgrad),
        "fromage": OptimizerEntry(tsx.fromage),
        "lamb": decayed(tsx.lamb, weight_decay_mask="mask"),
        "lars": decayed(tsx.lars, weight_decay_mask="weight_decay_mask"),
        "lbfgs": OptimizerEntry(tsx.lbfgs),
        "lion": decayed(tsx.lion, weight_decay_mask="mask"),
        "nadam": OptimizerEntry(tsx.nadam),
        "nadamw": decayed(tsx.nadamw, weight_decay_mask="mask"),
        "noisy_sgd": OptimizerEntry(tsx.noisy_sgd),
        "novograd": decayed(tsx.novograd),
        "optimistic_adam": OptimizerEntry(tsx.optimistic_adam),
        "optimistic_adam_v2": OptimizerEntry(tsx.optimistic_adam_v2),
        "optimistic_gradient_descent": OptimizerEntry(tsx.optimistic_gradient_descent),
        "polyak_sgd": OptimizerEntry(tsx.polyak_sgd),
        "radam": OptimizerEntry(tsx.radam),
        "rmsprop": OptimizerEntry(tsx.rmsprop),
        "rprop": OptimizerEntry(tsx.rprop),
        "sgd": OptimizerEntry(tsx.sgd),
        "sign_sgd": OptimizerEntry(tsx.sign_sgd),
        "signum": OptimizerEntry(tsx.signum),
        "sm3": OptimizerEntry(tsx.sm3),
        "yogi": OptimizerEntry(tsx.yogi),
        "contrib.acprop": decayed(contrib.acprop, weight_decay_mask="mask"),
        "contrib.ademamix": decayed(contrib.ademamix, weight_decay_mask="mask"),
        "contrib.adopt": OptimizerEntry(contrib.adopt),
        "contrib.cocob": decayed(contrib.cocob, weight_decay_mask="mask"),
        "contrib.dadapt_adamw": decayed(contrib.dadapt_adamw),
        "contrib.dog": decayed(contrib.dog, weight_decay_mask="mask"),
        "contrib.dowg": decayed(contrib.dowg, weight_decay_mask="mask"),
        "contrib.dpsgd": OptimizerEntry(contrib.dpsgd),
        "contrib.galore": decayed(contrib.galore, weight_decay_mask="mask"),
        "contrib.kron": decayed(contrib.kron, weight_decay_mask="mask"),
        "contrib.madgrad": decayed(contrib.madgrad),
        "contrib.momo": decayed(contrib.momo),
        "contrib.momo_adam": decayed(contrib.momo_adam),
        "contrib.muon": decayed(contrib.muon, weight_decay_mask="weight_decay_mask"),
        "contrib.prodigy": decayed(contrib.prodigy),
        "contrib.schedule_free_adamw": decayed(contrib.schedule_free_adamw),
        "contrib.schedule_free_sgd": decayed(contrib.schedule_free_sgd),
        "contrib.shampoo": decayed(contrib.shampoo, weight_decay_mask="mask"),
        "contrib.simplified_ademamix": decayed(
            contrib.simplified_ademamix, weight_decay_mask="mask"
        ),
        "contrib.soap": decayed(contrib.soap, weight_decay_mask="mask"),
        "contrib.sophia": decayed(
            contrib.sophia, weight_decay_mask="weight_decay_mask"
        ),
    }


def available() -> list[str]:
    """The sorted canonical names :func:`get` and :func:`build` accept."""
    return sorted(registry())


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def entry(name: str) -> tuple[str, OptimizerEntry]:
    """``(canonical name, entry)`` for ``name``; ValueError with suggestions."""
    if not isinstance(name, str):
        raise TypeError(
            f"the optimizer name must be a string, got {type(name).__name__}: {name!r}."
        )
    table = registry()
    key = _normalize(name)
    for candidate in (key, "contrib." + key):
        if candidate in table:
            return candidate, table[candidate]
    candidates = list(table) + [
        n.removeprefix("contrib.") for n in table if n.startswith("contrib.")
    ]
    close = difflib.get_close_matches(key, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown optimizer {name!r}.{hint} tsx.optimizers.available() lists the "
        f"{len(table)} known names."
    )


def _describe(sig: inspect.Signature) -> str:
    parts = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


def get(name: str, **hyperparameters: Any) -> GradientTransformation:
    """Build the optimizer called ``name`` with the given hyperparameters.

    ``get("adamw", learning_rate=1e-3)`` is ``tsx.adamw(learning_rate=1e-3)``;
    ``get("contrib.muon", learning_rate=0.02)`` is
    ``tsx.contrib.muon(learning_rate=0.02)``. Any mapping works with ``**``
    (an ``ml_collections.ConfigDict`` too).

    Args:
      name: a name from :func:`available` (see the module docs for spellings).
      **hyperparameters: the optimizer's keyword arguments.

    Raises:
      ValueError: unknown ``name`` (the message suggests close names), or a
        hyperparameter out of range (the optimizer's own message).
      OptimizerArgumentError: (a ``TypeError`` and a ``ValueError``) an
        unknown or missing hyperparameter; the message lists the accepted
        ones.

    Example:
      >>> import tsx
      >>> tx = tsx.optimizers.get("adamw", learning_rate=1e-3, weight_decay=0.1)
      >>> tsx.optimizers.get("adamww", learning_rate=1e-3)
      Traceback (most recent call last):
      ...
      ValueError: Unknown optimizer 'adamww'. Did you mean 'adamw', ...
    """
    canonical, found = entry(name)
    sig = inspect.signature(found.factory)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in hyperparameters if k not in sig.parameters]
    if unknown and not accepts_any:
        hints = ""
        for k in unknown:
            close = difflib.get_close_matches(k, list(sig.parameters), n=1)
            if close:
                hints += f" ({k!r}: did you mean {close[0]!r}?)"
        raise OptimizerArgumentError(
            f"{canonical}() got unexpected hyperparameter(s) {unknown}.{hints} "
            f"It accepts: {_describe(sig)}."
        )
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in hyperparameters
    ]
    if missing:
        raise OptimizerArgumentError(
            f"{canonical}() is missing required hyperparameter(s) {missing}. "
            f"It accepts: {_describe(sig)}."
        )
    return found.factory(**hyperparameters)


def build(
    name: str,
    *,
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule | None = None,
    weight_decay_mode: WeightDecayMode = "decoupled",
    weight_decay_mask: Any = None,
    state_bits: int = 32,
    **hyperparameters: Any,
) -> GradientTransformation:
    """An optimizer from a configuration: name, learning rate, weight decay.

    With ``weight_decay=wd`` and parameters ``p``:

    * ``weight_decay_mode="decoupled"``: the optimizer's own weight-decay
      argument gets ``wd`` (and its mask argument ``weight_decay_mask``); for
      AdamW the update is ``-lr * (adam(g) + wd * p)`` (Loshchilov & Hutter,
      2019, arXiv:1711.05101). An optimizer without such an argument is an
      error that says to use ``"l2"``.
    * ``weight_decay_mode="l2"``: ``wd * p`` is added to the gradient before
      the optimizer, ``chain(add_decayed_weights(wd, mask), optimizer)``: the
      gradient of ``wd/2 * ||p||^2`` (L2 regularisation, as
      ``torch.optim.SGD(weight_decay=...)``).

    * ``weight_decay_mode="auto"``: ``"decoupled"`` for an optimizer with
      its own weight-decay argument, ``"l2"`` for one without (SGD), so one
      configuration serves both kinds.

    ``weight_decay=None`` leaves the optimizer's own default decay as it is.

    Args:
      name: a name from :func:`available`.
      learning_rate: a number or a schedule ``step -> lr``.
      weight_decay: ``wd >= 0`` (or a schedule), or None.
      weight_decay_mode: ``"decoupled"``, ``"l2"`` or ``"auto"`` (see above).
      weight_decay_mask: a tree of booleans or a function ``params -> tree``
        (e.g. :func:`tsx.masks.decay_mask`): True where the decay applies.
      state_bits: 32 keeps the optimizer state as it is; 16, 8 or 4 store its
        large leaves compressed (:func:`tsx.quantized_state`).
      **hyperparameters: the optimizer's other keyword arguments.

    Example:
      >>> import tsx
      >>> tx = tsx.optimizers.build(
      ...     "sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4,
      ...     weight_decay_mode="l2", weight_decay_mask=tsx.masks.decay_mask)
    """
    if state_bits not in (32, 16, 8, 4) or isinstance(state_bits, bool):
        raise ValueError(
            f"build: state_bits must be 32, 16, 8 or 4, got state_bits={state_bits!r}."
        )
    tx = _with_decay(
        name,
        learning_rate,
        weight_decay,
        weight_decay_mode,
        weight_decay_mask,
        hyperparameters,
    )
    return tx if state_bits == 32 else quantized_state(tx, state_bits)


def _with_decay(
    name: str,
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule | None,
    weight_decay_mode: WeightDecayMode,
    weight_decay_mask: Any,
    hyperparameters: dict[str, Any],
) -> GradientTransformation:
    canonical, found = entry(name)
    if weight_decay_mode not in ("decoupled", "l2", "auto"):
        raise ValueError(
            "build: weight_decay_mode must be 'decoupled', 'l2' or 'auto', got "
            f"weight_decay_mode={weight_decay_mode!r}."
        )
    if weight_decay_mode == "auto":
        weight_decay_mode = "l2" if found.weight_decay is None else "decoupled"
    if weight_decay is None:
        if weight_decay_mask is not None:
            raise ValueError(
                "build: weight_decay_mask needs weight_decay=, got weight_decay=None."
            )
        return get(canonical, learning_rate=learning_rate, **hyperparameters)
    own = {found.weight_decay, found.weight_decay_mask} - {None}
    twice = sorted(own & set(hyperparameters))
    if twice:
        raise ValueError(
            f"build: weight decay is set twice for {canonical}: weight_decay= and "
            f"{twice[0]}= among its hyperparameters; pass it once, as "
            "weight_decay= (with weight_decay_mask=)."
        )
    if weight_decay_mode == "l2":
        tx = get(canonical, learning_rate=learning_rate, **hyperparameters)
        return chain(add_decayed_weights(weight_decay, weight_decay_mask), tx)
    if found.weight_decay is None:
        raise ValueError(
            f"build: {canonical} has no decoupled weight decay; use "
            "weight_decay_mode='l2' to add weight_decay * params to its gradient."
        )
    if weight_decay_mask is not None:
        if found.weight_decay_mask is None:
            raise ValueError(
                f"build: the weight decay of {canonical} takes no mask; got "
                f"weight_decay_mask={weight_decay_mask!r}. Use "
                "weight_decay_mode='l2' for a masked decay."
            )
        hyperparameters[found.weight_decay_mask] = weight_decay_mask
    hyperparameters[found.weight_decay] = weight_decay
    return get(canonical, learning_rate=learning_rate, **hyperparameters)
