"""Exponential moving average of the updates."""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    hyperparameters,
)

__all__ = ["EmaState", "ema"]


class EmaState(NamedTuple):
    """State of :func:`ema`: the step count and the average, shaped like the params."""

    count: jax.Array  # int32 scalar
    ema: Any


@hyperparameters(
    decay=DECAY,
    debias=BOOL,
    accumulator_dtype=DTYPE,
)
def ema(
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    """Replace the updates by their exponential moving average.

    ``m_t = decay * m_{t-1} + (1 - decay) * u_t`` with ``m_0 = 0``; it emits
    ``m_t``, or with ``debias=True`` the bias-corrected
    ``m_t / (1 - decay^t)`` (Kingma & Ba, 2015, "Adam: A Method for
    Stochastic Optimization", arXiv:1412.6980, section 3).

    This averages the *updates*, like Adam's first moment; it does not keep an
    average of the weights. Compare :func:`~tsx.trace`, which sums
    ``decay * t + u`` without the ``1 - decay`` factor.

    Args:
      decay: the decay rate, in ``[0, 1)``.
      debias: divide by ``1 - decay^t`` to undo the zero initialisation.
      accumulator_dtype: the dtype the average is stored in (default: the
        params' dtype).

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`EmaState`.
    """
    acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init_fn(params):
        return EmaState(
            count=jnp.zeros([], jnp.int32),
            ema=tu.tree_zeros_like(params, dtype=acc_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        new_ema = tu.tree_update_moment(updates, state.ema, decay, order=1)
        count = numerics.safe_increment(state.count)
        out = tu.tree_bias_correction(new_ema, decay, count) if debias else new_ema
        return out, EmaState(count=count, ema=tu.tree_cast(new_ema, acc_dtype))

    return GradientTransformation(init_fn, update_fn)
