"""Coupled weight decay: adding ``weight_decay * params`` to the updates."""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx._base import EmptyState, GradientTransformation, ScalarOrSchedule
from tsx.transforms._masking import MaskOrFn, masked
from tsx.validation import (
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    require_params,
    schedule_or,
)

__all__ = ["AddDecayedWeightsState", "WeightDecayScheduleState", "add_decayed_weights"]

AddDecayedWeightsState = EmptyState


class WeightDecayScheduleState(NamedTuple):
    """State of :func:`add_decayed_weights` with a scheduled decay: the step count."""

    count: jax.Array  # int32 scalar


@hyperparameters(
    weight_decay=schedule_or(NON_NEGATIVE),
    mask=MASK,
)
def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
) -> GradientTransformation:
    """``u + weight_decay * p`` (L2 regularisation on the updates).

    Placed before the learning-rate scaling, as in AdamW, it gives decoupled
    weight decay (Loshchilov & Hutter, 2019, arXiv:1711.05101).
    ``weight_decay`` may be a schedule of the step count. ``mask`` (a tree or
    function, see :func:`masked`) selects which parameters decay.

    Args:
      weight_decay: the coefficient ``wd >= 0``, or a schedule ``step -> wd``
        (default 0.0).
      mask: a tree of booleans with the params' structure (or a prefix), or a
        function ``params -> mask``: True where the decay applies. None: all.
    """
    scheduled = callable(weight_decay)

    def init_fn(params):
        del params
        if scheduled:
            return WeightDecayScheduleState(count=jnp.zeros([], jnp.int32))
        return EmptyState()

    def update_fn(updates, state, params=None):
        require_params(params, "add_decayed_weights")
        if scheduled:
            rate = numerics.schedule_value(weight_decay, state.count, "weight decay")
            state = WeightDecayScheduleState(numerics.safe_increment(state.count))
        else:
            rate = weight_decay
            if isinstance(rate, (int, float)) and rate == 0.0:
                return updates, state
        new = jax.tree.map(
            lambda g, p: None if g is None else g + rate * p,
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        return new, state

    tx = GradientTransformation(init_fn, update_fn)
    return masked(tx, mask) if mask is not None else tx
