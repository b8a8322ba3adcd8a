"""Hyperparameters held in the optimizer state, so they can change every step."""


import functools
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsx import numerics
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Schedule,
    with_extra_args_support,
)
from tsx.validation import (
    DTYPE,
    FUNCTION,
    any_of,
    hyperparameters,
    sequence_of,
    string,
)

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "WrappedSchedule",
    "WrappedScheduleState",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
]


class InjectHyperparamsState(NamedTuple):
    """The pre-0.1.9 state of ``inject_hyperparams`` (kept for old checkpoints).

    :func:`inject_hyperparams` now returns
    :class:`InjectStatefulHyperparamsState`.
    """

    count: jax.Array  # int32 scalar
    hyperparams: dict[str, jax.typing.ArrayLike]
    inner_state: OptState


class InjectStatefulHyperparamsState(NamedTuple):
    """State of :func:`inject_hyperparams`.

    Attributes:
      count: number of updates taken (int32 scalar).
      hyperparams: the value of every numeric hyperparameter used by the last
        update (or by ``init``); the numeric ones that are not scheduled may be
        reassigned between steps.
      hyperparams_states: the state of each scheduled hyperparameter.
      inner_state: the state of the wrapped transformation.
    """

    count: jax.Array  # int32 scalar
    hyperparams: dict[str, jax.typing.ArrayLike]
    hyperparams_states: dict[str, Any]
    inner_state: OptState


class WrappedScheduleState(NamedTuple):
    """State of :class:`WrappedSchedule`: the number of steps taken."""

    count: jax.typing.ArrayLike


class WrappedSchedule:
    """A step-count schedule seen through the stateful-schedule interface.

    ``init()`` starts a counter at 0, ``update`` increments it (ignoring extra
    arguments) and calling it evaluates ``schedule_fn`` at the counter.
    """

    def __init__(self, schedule_fn: Schedule):
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=numerics.safe_increment(state.count))

    def __call__(
        self, state: WrappedScheduleState, **extra_args
    ) -> jax.typing.ArrayLike:
        del extra_args
        return numerics.schedule_value(self.schedule_fn, state.count)


def _is_stateful_schedule(value: Any) -> bool:
    # Structural, like a runtime-checked protocol: anything with init, update
    # and __call__ (tsx's, Optax's or a user's class) is a stateful schedule.
    return all(
        callable(getattr(value, name, None)) for name in ("init", "update")
    ) and (callable(value))


def _highest_dtype(tree: Any) -> jnp.dtype:
    """The widest dtype among the leaves (the default float for an empty tree).

    "Widest" is in the promotion order: ``a`` is above ``b`` when ``b``
    promotes to ``a``; leaves whose dtypes do not promote into one another
    raise ``ValueError``.
    """
    dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(tree)]
    if not dtypes:
        return jnp.asarray([]).dtype
    widest = dtypes[0]
    for dtype in dtypes[1:]:
        joined = jnp.promote_types(widest, dtype)
        if joined == widest:
            continue
        if joined == dtype:
            widest = dtype
            continue
        raise ValueError(
            f"Cannot pick a hyperparameter dtype: the parameters mix {widest} and "
            f"{dtype}, neither of which promotes to the other; pass "
            "hyperparam_dtype."
        )
    return widest


def _cast_float(value: Any, dtype: Any) -> Any:
    """Cast a floating-point ``value`` to ``dtype``; leave other values alone.

    A strongly typed JAX array keeps its dtype (the user chose it); Python
    floats, NumPy floats and weakly typed arrays take ``dtype``.
    """
    if isinstance(value, jax.Array) and not getattr(value, "weak_type", False):
        return value
    kind = value.dtype if hasattr(value, "dtype") else type(value)
    if jnp.issubdtype(kind, jnp.floating):
        return jnp.asarray(value, dtype=dtype)
    return value


@hyperparameters(
    inner_factory=FUNCTION,
    static_args=any_of(string(), sequence_of(string())),
    hyperparam_dtype=DTYPE,
)
def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: jnp.dtype | None = None,
) -> Callable[..., GradientTransformationExtraArgs]:
    """Move an optimizer's numeric hyperparameters into its state.

    ``inject_hyperparams(factory)`` returns a function with ``factory``'s
    signature that builds a transformation whose state is
    :class:`InjectStatefulHyperparamsState`. Its arguments are sorted once,
    when it is called:

    * ``static_args``, booleans and non-numeric values are passed through
      unchanged;
    * callables are schedules: a plain ``step -> value`` function is wrapped
      in :class:`WrappedSchedule`, an object with ``init``/``update``/
      ``__call__`` is used as a stateful schedule (its ``update`` and call
      receive the update's extra arguments);
    * numbers and arrays go into ``state.hyperparams``.

    Each update rebuilds the inner transformation from ``state.hyperparams``
    (with the scheduled entries set to the schedules' current values, starting
    at step 0) and applies it to ``state.inner_state``. Because the values are
    arrays in the state, reassigning one between steps::

        state.hyperparams["learning_rate"] = jnp.asarray(1e-4, jnp.float32)

    takes effect at the next update without recompiling a jitted update (a
    Python float is weakly typed, so the first one costs a single retrace), and
    ``jax.vmap`` over the state (or over the hyperparameters passed in) runs a
    batch of settings at once. Reassigning a scheduled entry has no effect:
    the schedule overwrites it.

    Floating-point hyperparameters are cast to ``hyperparam_dtype`` or, by
    default, to the widest dtype of the parameters (the default float dtype
    when ``update`` gets no parameters); strongly typed JAX arrays keep their
    dtype.

    Args:
      inner_factory: a function returning a ``GradientTransformation``
        (``tsx.adam``, ``tsx.scale_by_adam``, a user's factory, ...).
      static_args: names of arguments that are callables or numbers but must
        not be injected (for example a function argument that is not a
        schedule).
      hyperparam_dtype: dtype for the floating-point hyperparameters.

    Returns:
      A function taking ``inner_factory``'s arguments (schedules allowed for
      numeric ones) and returning a ``GradientTransformationExtraArgs``.

    Raises:
      ValueError: if ``static_args`` names something that is not a parameter
        of ``inner_factory``.
    """
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            "static_args must name parameters of inner_factory; got "
            f"static_args={sorted(static)!r}, but {sorted(unknown)!r} are not among "
            f"{list(signature.parameters)!r}."
        )

    @functools.wraps(inner_factory)
    def build(*args, **kwargs) -> GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()

        schedules: dict[str, Any] = {}
        numeric: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool):
                fixed[name] = value
            elif _is_stateful_schedule(value):
                schedules[name] = value
            elif callable(value):
                schedules[name] = WrappedSchedule(value)
            elif isinstance(value, (int, float, jax.Array, np.ndarray)):
                numeric[name] = value
            else:
                fixed[name] = value

        def target_dtype(params):
            if hyperparam_dtype is not None:
                return hyperparam_dtype
            return _highest_dtype(params)

        def init_fn(params):
            dtype = target_dtype(params)
            hyperparams = {
                k: jnp.asarray(_cast_float(v, dtype)) for k, v in numeric.items()
            }
            schedule_states = {k: s.init() for k, s in schedules.items()}
            for k, s in schedules.items():
                hyperparams[k] = _cast_float(s(schedule_states[k]), dtype)
            inner = inner_factory(**fixed, **hyperparams)
            return InjectStatefulHyperparamsState(
                count=jnp.zeros([], jnp.int32),
                hyperparams=hyperparams,
                hyperparams_states=schedule_states,
                inner_state=inner.init(params),
            )

        def update_fn(updates, state, params=None, **extra_args):
            dtype = target_dtype(params)
            hyperparams = {
                k: _cast_float(v, dtype) for k, v in state.hyperparams.items()
            }
            for k, s in schedules.items():
                hyperparams[k] = _cast_float(
                    s(state.hyperparams_states[k], **extra_args), dtype
                )
            schedule_states = {
                k: s.update(state.hyperparams_states[k], **extra_args)
                for k, s in schedules.items()
            }
            inner = with_extra_args_support(inner_factory(**fixed, **hyperparams))
            updates, inner_state = inner.update(
                updates, state.inner_state, params, **extra_args
            )
            return updates, InjectStatefulHyperparamsState(
                count=numerics.safe_increment(state.count),
                hyperparams=hyperparams,
                hyperparams_states=schedule_states,
                inner_state=inner_state,
            )

        return GradientTransformationExtraArgs(init_fn, update_fn)

    return build


@hyperparameters(
    inner_factory=FUNCTION,
    static_args=any_of(string(), sequence_of(string())),
    hyperparam_dtype=DTYPE,
)
def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: jnp.dtype | None = None,
) -> Callable[..., GradientTransformationExtraArgs]:
    """Deprecated alias of :func:`inject_hyperparams` (which handles stateful
    schedules itself); emits a ``DeprecationWarning``.
    """
    warnings.warn(
        "inject_stateful_hyperparams is deprecated; use inject_hyperparams, which "
        "accepts stateful schedules too.",
        DeprecationWarning,
        stacklevel=2,
    )
    return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)
