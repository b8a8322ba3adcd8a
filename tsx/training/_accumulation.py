"""Gradient accumulation: average ``k`` micro-batch gradients, then step once.

With micro-batch gradients ``g_1 ... g_k`` the optimizer sees their mean,
kept as a running mean so the accumulator never holds a ``k``-times larger
sum (which could overflow in low precision):

    a_0 = 0,    a_{m+1} = a_m + (g_{m+1} - a_m) / (m + 1),    a_k = (1/k) sum g_i.

For a loss that is a mean over examples and equal-sized micro-batches, ``a_k``
equals the gradient on the concatenated batch, so ``k`` accumulated SGD
micro-steps equal one SGD step on the whole batch. ``k`` may follow a
schedule of the number of optimizer updates taken so far (as Optax's
``MultiSteps`` ``every_k_schedule``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["AccumulateSteps", "accumulate", "check_accumulate_steps", "steps_at"]

AccumulateSteps = int | Callable[[jax.Array], jax.typing.ArrayLike]


def check_accumulate_steps(accumulate_steps: Any) -> AccumulateSteps | None:
    """Validate ``accumulate_steps``: an int >= 1, a schedule, or None.

    Returns None for ``None`` and ``1`` (nothing to accumulate, no memory).
    """
    if accumulate_steps is None:
        return None
    if callable(accumulate_steps):
        return accumulate_steps
    if isinstance(accumulate_steps, bool) or not isinstance(accumulate_steps, int):
        raise ValueError(
            "accumulate_steps must be an int >= 1 or a schedule step -> k, got "
            f"accumulate_steps={accumulate_steps!r}."
        )
    if accumulate_steps < 1:
        raise ValueError(
            f"accumulate_steps must be >= 1, got accumulate_steps={accumulate_steps}."
        )
    return None if accumulate_steps == 1 else accumulate_steps


def steps_at(accumulate_steps: AccumulateSteps, step: jax.Array) -> jax.Array:
    """``k`` for the accumulation window that ends with update number ``step + 1``."""
    k = accumulate_steps(step) if callable(accumulate_steps) else accumulate_steps
    return jnp.maximum(jnp.asarray(k, jnp.int32), 1)


def accumulate(average: Any, grads: Any, count: jax.Array) -> Any:
    """One running-mean step: ``a + (g - a) / (count + 1)``, in ``a``'s dtype."""
    n = jnp.asarray(count, jnp.float32) + 1.0

    def one(a: jax.Array, g: jax.Array) -> jax.Array:
        g = g.astype(a.dtype)
        return (a + (g - a) / n.astype(jnp.promote_types(a.dtype, jnp.float32))).astype(
            a.dtype
        )

    return jax.tree.map(one, average, grads)
