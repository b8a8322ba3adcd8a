"""Gradient accumulation: average ``k`` micro-batch gradients, then step once.

With micro-batch gradients ``g_1 ... g_k`` the optimizer sees their mean,
kept as a running mean (:func:`tsx.tree_utils.tree_running_mean`) so the
accumulator never holds a ``k``-times larger sum:

    a_0 = 0,    a_{m+1} = a_m + (g_{m+1} - a_m) / (m + 1),    a_k = (1/k) sum g_i.

For a loss that is a mean over examples and equal-sized micro-batches, ``a_k``
equals the gradient on the concatenated batch, so ``k`` accumulated SGD
micro-steps equal one SGD step on the whole batch. ``k`` may follow a
schedule of the number of optimizer updates taken so far (as Optax's
``MultiSteps`` ``every_k_schedule``). The mean is kept in float32 (or the
gradient's dtype if wider), as ``MultiSteps`` keeps it by default.
"""


import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from tsx import tree_utils as tu
from tsx.validation import POSITIVE_INT, any_of, check, function, optional

__all__ = [
    "AccumulateSteps",
    "GradientAccumulation",
    "accumulate",
    "check_accumulate_steps",
    "steps_at",
]

AccumulateSteps = int | Callable[[jax.Array], jax.typing.ArrayLike]
ACCUMULATE_STEPS = optional(any_of(POSITIVE_INT, function()))


def steps_at(accumulate_steps: AccumulateSteps, step: jax.Array) -> jax.Array:
    """``k`` for the accumulation window that ends with update number ``step + 1``."""
    k = accumulate_steps(step) if callable(accumulate_steps) else accumulate_steps
    return jnp.maximum(jnp.asarray(k, jnp.int32), 1)


def _accumulator_dtype(x: Any) -> Any:
    return jnp.promote_types(jnp.asarray(x).dtype, jnp.float32)


@struct.dataclass
class GradientAccumulation:
    """The state of gradient accumulation: one window's running mean.

    Attributes:
      mean: running mean of the window's micro-batch gradients (float32).
      count: micro-batches in the window so far (int32).
      steps: ``k`` (an int) or a schedule ``optimizer step -> k``; static.
    """

    mean: Any
    count: jax.Array
    steps: AccumulateSteps = struct.field(pytree_node=False, default=1)

    @classmethod
    def create(
        cls, params: Any, steps: AccumulateSteps | None
    ) -> "GradientAccumulation | None":
        """An empty window for ``params``; None when ``steps`` is None or 1."""
        check("TrainState.create", "accumulate_steps", steps, ACCUMULATE_STEPS)
        if steps is None or (not callable(steps) and steps == 1):
            return None
        mean = jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=_accumulator_dtype(p)), params
        )
        return cls(mean=mean, count=jnp.zeros([], jnp.int32), steps=steps)

    def add(
        self, grads: Any, step: jax.Array
    ) -> "tuple[GradientAccumulation, Any, jax.Array]":
        """Fold one micro-batch in.

        Returns the state for the next call, the window's mean so far (in the
        gradients' dtypes) and whether the window is complete (the optimizer
        is due). A complete window starts the next one empty.
        """
        mean = tu.tree_running_mean(self.mean, grads, self.count)
        due = self.count + 1 >= steps_at(self.steps, step)
        after = self.replace(
            mean=tu.tree_where(due, tu.tree_zeros_like(mean), mean),
            count=jnp.where(due, 0, self.count + 1).astype(jnp.int32),
        )
        return after, tu.tree_cast_like(mean, grads), due


def accumulate(average: Any, grads: Any, count: jax.Array) -> Any:
    """Deprecated: :func:`tsx.tree_utils.tree_running_mean` (one running mean)."""
    warnings.warn(
        "tsx.training.accumulate is deprecated; use "
        "tsx.tree_utils.tree_running_mean(average, grads, count).",
        DeprecationWarning,
        stacklevel=2,
    )
    return tu.tree_running_mean(average, grads, count)


def check_accumulate_steps(accumulate_steps: Any) -> AccumulateSteps | None:
    """Deprecated: ``accumulate_steps`` is checked by ``TrainState.create``.

    Returns None for ``None`` and ``1`` (nothing to accumulate).
    """
    warnings.warn(
        "tsx.training.check_accumulate_steps is deprecated; TrainState.create "
        "checks accumulate_steps.",
        DeprecationWarning,
        stacklevel=2,
    )
    check(
        "check_accumulate_steps", "accumulate_steps", accumulate_steps, ACCUMULATE_STEPS
    )
    if accumulate_steps is None or (
        not callable(accumulate_steps) and accumulate_steps == 1
    ):
        return None
    return accumulate_steps
