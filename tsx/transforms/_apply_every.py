"""Summing updates and releasing them every k steps (``apply_every``)."""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation
from tsx.validation import (
    POSITIVE_INT,
    hyperparameters,
)

__all__ = ["ApplyEvery", "apply_every"]


class ApplyEvery(NamedTuple):
    """State of :func:`apply_every`: the step within the cycle and the running sum."""

    count: jax.Array  # int32 scalar, in [0, k)
    grad_acc: Any


@hyperparameters(
    k=POSITIVE_INT,
)
def apply_every(k: jax.typing.ArrayLike = 1) -> GradientTransformation:
    """Sum the updates over ``k`` steps and emit the sum on every ``k``-th step.

    With ``c = step mod k``: ``acc <- u`` when ``c = 0``, else
    ``acc <- acc + u``; the emitted update is ``acc`` when ``c = k - 1`` and
    zeros otherwise. Transformations earlier in a chain still update their
    state at every step; to accumulate gradients *before* an optimizer, use
    :class:`~tsx.MultiSteps`.

    Args:
      k: the number of steps summed per emitted update (>= 1).

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`ApplyEvery`.
    """

    def init_fn(params):
        return ApplyEvery(
            count=jnp.zeros([], jnp.int32), grad_acc=tu.tree_zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        c = state.count % k
        keep = c != 0
        grad_acc = jax.tree.map(lambda g, a: keep * a + g, updates, state.grad_acc)
        emit = c == (k - 1)
        new_updates = jax.tree.map(lambda a: emit * a, grad_acc)
        count = numerics.safe_increment(state.count) % k
        return new_updates, ApplyEvery(count=count, grad_acc=grad_acc)

    return GradientTransformation(init_fn, update_fn)
