"""Reduce the step size when a monitored loss stops improving.

The rule of Keras' and PyTorch's ``ReduceLROnPlateau``, as a transformation
that multiplies the updates by a ``scale``. Losses passed as ``value=`` are
averaged over ``accumulation_size`` calls; each average :math:`\\bar f`
counts as an improvement when

.. math::

   \\bar f < (1 - \\text{rtol})\\, f_{best} - \\text{atol},

otherwise the plateau counter grows. After ``patience`` averages without
improvement the scale is multiplied by ``factor`` (never below
``min_scale``) and ``cooldown`` averages pass before counting again.
"""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs
from tsx.validation import (
    NON_NEGATIVE,
    POSITIVE_INT,
    PROBABILITY,
    hyperparameters,
    integer,
    real,
)

__all__ = ["ReduceLROnPlateauState", "reduce_on_plateau"]


class ReduceLROnPlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau`.

    Attributes:
      scale: the current multiplier of the updates (params' lowest dtype).
      best_value: the best average loss so far (params' highest dtype).
      plateau_count: averages since the last improvement (int32).
      cooldown_count: averages left in the cooldown (int32).
      count: losses accumulated in the current average (int32).
      avg_value: running mean of the current accumulation.
    """

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array
    cooldown_count: jax.Array
    count: jax.Array
    avg_value: jax.Array


@hyperparameters(
    factor=real(0, 1, low_open=True, high_open=True),
    patience=integer(0),
    rtol=PROBABILITY,
    atol=NON_NEGATIVE,
    cooldown=integer(0),
    accumulation_size=POSITIVE_INT,
    min_scale=NON_NEGATIVE,
)
def reduce_on_plateau(
    factor: float = 0.1,
    patience: jax.typing.ArrayLike = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: jax.typing.ArrayLike = 0,
    accumulation_size: jax.typing.ArrayLike = 1,
    min_scale: jax.typing.ArrayLike = 0.0,
) -> GradientTransformationExtraArgs:
    """Scale updates down by ``factor`` when ``value`` plateaus.

    Args:
      factor: multiplier of the scale at each reduction, in (0, 1).
      patience: averages without improvement before a reduction.
      rtol: relative improvement threshold, in [0, 1].
      atol: absolute improvement threshold (>= 0; not both zero with rtol).
      cooldown: averages to wait after a reduction.
      accumulation_size: losses averaged before each comparison (>= 1).
      min_scale: the scale never goes below this.

    ``update(updates, state, params=None, value=loss)``; chain it after an
    optimizer to scale its updates.
    """
    if rtol == 0.0 and atol == 0.0:
        raise ValueError(
            "at least one of rtol and atol must be positive, got "
            f"rtol={rtol!r} and atol={atol!r}."
        )

    def init_fn(params):
        low = tu.tree_dtype(params, "lowest")
        high = tu.tree_dtype(params, "highest")
        return ReduceLROnPlateauState(
            scale=jnp.asarray(1.0, dtype=low),
            best_value=jnp.asarray(float("inf"), dtype=high),
            plateau_count=jnp.asarray(0, jnp.int32),
            cooldown_count=jnp.asarray(0, jnp.int32),
            count=jnp.asarray(0, jnp.int32),
            avg_value=jnp.asarray(0.0, high),
        )

    def compare(state):
        """Judge a completed average; reset the accumulation."""
        avg = state.avg_value
        improved = jnp.where(avg < (1 - rtol) * state.best_value - atol, 1, 0)
        best = jnp.where(improved, avg.astype(state.best_value.dtype), state.best_value)
        plateau = jnp.where(improved, 0, numerics.safe_increment(state.plateau_count))

        def cooling():
            return jnp.asarray(0, jnp.int32), state.scale, state.cooldown_count - 1

        def watching():
            reduce = plateau == patience
            new_scale = jnp.maximum(
                jnp.where(reduce, state.scale * factor, state.scale), min_scale
            )
            return (
                jnp.where(reduce, 0, plateau),
                new_scale,
                jnp.where(reduce, cooldown, 0).astype(jnp.int32),
            )

        plateau, scale, cool = jax.lax.cond(state.cooldown_count > 0, cooling, watching)
        return ReduceLROnPlateauState(
            scale=scale,
            best_value=best.astype(state.best_value.dtype),
            plateau_count=plateau,
            cooldown_count=cool,
            count=jnp.asarray(0, jnp.int32),
            avg_value=jnp.asarray(0.0, avg.dtype),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise ValueError(
                "reduce_on_plateau needs the monitored loss: call "
                "update(updates, state, params, value=loss)."
            )
        count = numerics.safe_increment(state.count)
        avg = (
            state.count * state.avg_value + jnp.astype(value, state.avg_value.dtype)
        ) / count
        state = state._replace(avg_value=avg.astype(state.avg_value.dtype), count=count)
        state = jax.lax.cond(count == accumulation_size, compare, lambda s: s, state)
        return jax.tree.map(lambda g: state.scale * g, updates), state

    return GradientTransformationExtraArgs(init_fn, update_fn)
