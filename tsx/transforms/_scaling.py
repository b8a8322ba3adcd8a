"""Scaling updates by a constant, a schedule or a learning rate."""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx._base import (
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    identity,
    init_empty_state,
)
from tsx.validation import (
    BOOL,
    FUNCTION,
    OPTIONAL_LEARNING_RATE,
    hyperparameters,
    real,
)

__all__ = [
    "ScaleByScheduleState",
    "ScaleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
]

ScaleState = EmptyState


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`: the number of steps taken."""

    count: jax.Array  # int32 scalar


@hyperparameters(
    step_size=real(),
)
def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
    """Multiply every update by the constant ``step_size``.

    Args:
      step_size: a finite number (or array broadcastable to every update).

    Returns:
      A stateless :class:`~tsx.GradientTransformation`.
    """

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step_size * g, updates), state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    step_size_fn=FUNCTION,
)
def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiply updates by ``step_size_fn(count)``, ``count`` the steps taken so far.

    Args:
      step_size_fn: a function ``count -> factor`` (e.g. a schedule from
        :mod:`tsx.schedules`).

    Returns:
      A :class:`~tsx.GradientTransformation` with state
      :class:`ScaleByScheduleState` (the step count).
    """

    def init_fn(params):
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        del params
        step_size = numerics.schedule_value(step_size_fn, state.count, "step size")
        updates = jax.tree.map(
            lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates
        )
        return updates, ScaleByScheduleState(count=numerics.safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=OPTIONAL_LEARNING_RATE,
    flip_sign=BOOL,
)
def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> GradientTransformation:
    """Scale by ``-learning_rate`` (a number or a schedule of the step count).

    ``None`` gives the identity, which lets ``inject_hyperparams`` or a user
    apply the learning rate elsewhere. ``flip_sign=False`` keeps the sign
    (for gradient ascent).

    Args:
      learning_rate: a finite number >= 0, a schedule ``step -> lr``, or None
        (default) for the identity.
      flip_sign: multiply by ``-lr`` (default True, descent) rather than ``lr``.

    Returns:
      A :class:`~tsx.GradientTransformation`; with a schedule its state counts
      the steps (:class:`ScaleByScheduleState`).
    """
    if learning_rate is None:
        return identity()
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(
            lambda count: (
                sign * numerics.schedule_value(learning_rate, count, "learning rate")
            )
        )
    return scale(sign * learning_rate)
