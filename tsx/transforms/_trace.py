"""Momentum: an exponentially decaying trace of past updates."""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation
from tsx.validation import (
    BOOL,
    DTYPE,
    hyperparameters,
    real,
)

__all__ = ["TraceState", "trace"]


class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer, shaped like the params."""

    trace: Any


@hyperparameters(
    # 1.0 keeps a running sum of the updates.
    decay=real(0.0, 1.0),
    nesterov=BOOL,
    accumulator_dtype=DTYPE,
)
def trace(
    decay: float,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    """Heavy-ball momentum: ``t = g + decay * t_prev``, emitting ``t``.

    With ``nesterov=True`` it emits ``g + decay * t`` (Sutskever et al., 2013,
    "On the importance of initialization and momentum in deep learning").
    ``accumulator_dtype`` sets the buffer's dtype (default: the params').

    Args:
      decay: the momentum coefficient, a finite float in ``[0, 1]`` (1: a
        running sum of the updates).
      nesterov: emit the Nesterov look-ahead ``g + decay * t`` (default False).
      accumulator_dtype: the dtype of the momentum buffer (default: the params').

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`TraceState`.
    """
    acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=tu.tree_zeros_like(params, dtype=acc_dtype))

    def update_fn(updates, state, params=None):
        del params
        is_none = lambda x: x is None  # noqa: E731
        new_trace = jax.tree.map(
            lambda g, t: None if g is None else g + decay * t,
            updates,
            state.trace,
            is_leaf=is_none,
        )
        if nesterov:
            updates = jax.tree.map(
                lambda g, t: None if g is None else g + decay * t,
                updates,
                new_trace,
                is_leaf=is_none,
            )
        else:
            updates = new_trace
        return updates, TraceState(trace=tu.tree_cast(new_trace, acc_dtype))

    return GradientTransformation(init_fn, update_fn)
