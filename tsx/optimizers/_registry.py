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

The table in ``_register_core`` below holds tsx's own optimizers and the one in
``tsx/contrib/_catalog.py`` those of :mod:`tsx.contrib` (registered when that
package is imported, so that this layer never imports the one below it); adding
an optimizer to tsx means adding a row to one of them, with the names of its
decoupled weight-decay arguments, if any. :func:`register` adds a user's own.
"""


import difflib
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from tsx._base import GradientTransformation, ScalarOrSchedule
from tsx._combine import chain
from tsx.lowbit import master_weights as lowbit_master_weights
from tsx.lowbit import quantized_state
from tsx.optimizers._adabelief import adabelief
from tsx.optimizers._adadelta import adadelta
from tsx.optimizers._adafactor import adafactor
from tsx.optimizers._adagrad import adagrad
from tsx.optimizers._adam import adam, adamw, nadam, nadamw
from tsx.optimizers._adamax import adamax, adamaxw
from tsx.optimizers._adan import adan
from tsx.optimizers._amsgrad import amsgrad
from tsx.optimizers._fromage import fromage
from tsx.optimizers._lamb import lamb
from tsx.optimizers._lars import lars
from tsx.optimizers._lbfgs import lbfgs
from tsx.optimizers._lion import lion
from tsx.optimizers._noisy_sgd import noisy_sgd
from tsx.optimizers._novograd import novograd
from tsx.optimizers._optimistic import (
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
)
from tsx.optimizers._polyak import polyak_sgd
from tsx.optimizers._radam import radam
from tsx.optimizers._rmsprop import rmsprop
from tsx.optimizers._rprop import rprop
from tsx.optimizers._sgd import sgd
from tsx.optimizers._sign import sign_sgd, signum
from tsx.optimizers._sm3 import sm3
from tsx.optimizers._yogi import yogi
from tsx.transforms import add_decayed_weights

__all__ = ["OptimizerEntry", "available", "build", "get", "register", "registry"]

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


_TABLE: dict[str, OptimizerEntry] = {}
_VIEW = types.MappingProxyType(_TABLE)


def registry() -> Mapping[str, OptimizerEntry]:
    """The canonical name of every registered optimizer, and its entry.

    A read-only view: :func:`register` adds to it. The rows of
    ``tsx.contrib`` are registered when ``tsx.contrib`` is imported, which
    ``import tsx`` does.
    """
    return _VIEW


def register(
    name: str,
    factory: Callable[..., GradientTransformation],
    *,
    weight_decay: str | None = None,
    weight_decay_mask: str | None = None,
) -> OptimizerEntry:
    """Make ``factory`` available to :func:`get` and :func:`build` as ``name``.

    Args:
      name: the canonical name (lower case, ``_`` for ``-``; optimizers of a
        namespace are named ``"<namespace>.<name>"``, as ``"contrib.muon"``).
      factory: the function that builds the optimizer from keyword arguments,
        with a ``learning_rate`` argument.
      weight_decay: the name of its decoupled weight-decay argument, if any.
      weight_decay_mask: the name of that decay's mask argument, if any.

    Returns:
      The new entry.

    Raises:
      ValueError: ``name`` is taken or not in canonical form, or an argument
        named by ``weight_decay``/``weight_decay_mask`` is not one of
        ``factory``'s.
      TypeError: ``factory`` is not callable.

    Registration lasts for the process; a name is registered once.

    Example:
      >>> import tsx
      >>> tsx.optimizers.registry()["contrib.muon"].weight_decay_mask
      'weight_decay_mask'
      >>> tsx.optimizers.register("sgd", tsx.sgd)
      Traceback (most recent call last):
      ...
      ValueError: register: the name 'sgd' is registered already.
    """
    if not isinstance(name, str) or not name or _normalize(name) != name:
        raise ValueError(
            "register: name must be a non-empty lower-case string with '_' for "
            f"'-', got name={name!r}."
        )
    if name in _TABLE:
        raise ValueError(f"register: the name {name!r} is registered already.")
    if not callable(factory):
        raise TypeError(f"register: factory must be callable, got {factory!r}.")
    accepted = inspect.signature(factory).parameters
    for argument, value in (
        ("weight_decay", weight_decay),
        ("weight_decay_mask", weight_decay_mask),
    ):
        if value is not None and value not in accepted:
            raise ValueError(
                f"register: {argument}={value!r} is not an argument of "
                f"{getattr(factory, '__name__', factory)}."
            )
    _TABLE[name] = OptimizerEntry(factory, weight_decay, weight_decay_mask)
    return _TABLE[name]


def _register_core() -> None:
    for name, factory, decay, mask in (
        ("adabelief", adabelief, None, None),
        ("adadelta", adadelta, "weight_decay", "weight_decay_mask"),
        ("adafactor", adafactor, "weight_decay_rate", "weight_decay_mask"),
        ("adagrad", adagrad, None, None),
        ("adam", adam, None, None),
        ("adamax", adamax, None, None),
        ("adamaxw", adamaxw, "weight_decay", "mask"),
        ("adamw", adamw, "weight_decay", "mask"),
        ("adan", adan, "weight_decay", "mask"),
        ("amsgrad", amsgrad, None, None),
        ("fromage", fromage, None, None),
        ("lamb", lamb, "weight_decay", "mask"),
        ("lars", lars, "weight_decay", "weight_decay_mask"),
        ("lbfgs", lbfgs, None, None),
        ("lion", lion, "weight_decay", "mask"),
        ("nadam", nadam, None, None),
        ("nadamw", nadamw, "weight_decay", "mask"),
        ("noisy_sgd", noisy_sgd, None, None),
        ("novograd", novograd, "weight_decay", None),
        ("optimistic_adam", optimistic_adam, None, None),
        ("optimistic_adam_v2", optimistic_adam_v2, None, None),
        ("optimistic_gradient_descent", optimistic_gradient_descent, None, None),
        ("polyak_sgd", polyak_sgd, None, None),
        ("radam", radam, None, None),
        ("rmsprop", rmsprop, None, None),
        ("rprop", rprop, None, None),
        ("sgd", sgd, None, None),
        ("sign_sgd", sign_sgd, None, None),
        ("signum", signum, None, None),
        ("sm3", sm3, None, None),
        ("yogi", yogi, None, None),
    ):
        register(name, factory, weight_decay=decay, weight_decay_mask=mask)


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
      TypeError: an unknown or missing hyperparameter; the message lists
        the accepted ones (an ``OptimizerArgumentError``, which is also a
        ``ValueError``).

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
    master_weights: str | None = None,
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
      master_weights: ``"bf16"`` for bfloat16 params whose rounding error the
        state keeps in 8 bits (:func:`tsx.lowbit.master_weights`): the
        optimizer then expects bfloat16 params; or None.
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
    if master_weights not in (None, "bf16"):
        raise ValueError(
            "build: master_weights must be None or 'bf16', got "
            f"master_weights={master_weights!r}."
        )
    tx = _with_decay(
        name,
        learning_rate,
        weight_decay,
        weight_decay_mode,
        weight_decay_mask,
        hyperparameters,
    )
    tx = tx if state_bits == 32 else quantized_state(tx, state_bits)
    return tx if master_weights is None else lowbit_master_weights(tx)


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


_register_core()
