"""Exponential moving averages of parameters (Polyak-Ruppert averaging).

After the ``n``-th averaging step (``n = 0, 1, ...``) with new parameters
``p``, the average is

    e_{n+1} = d_n * e_n + (1 - d_n) * p,        e_0 = p_0 (the initial params).

With a constant decay ``d`` and parameters ``p_1 ... p_N`` this is the closed
form ``e_N = d^N p_0 + (1 - d) sum_{i=1}^{N} d^{N-i} p_i``: early on the
average is dominated by the initial weights. A decay warm-up lowers ``d_n``
for small ``n``; the default warm-up (the num_updates rule of TensorFlow's
``ExponentialMovingAverage``) is

    d_n = min(d, (1 + n) / (10 + n)).

References: Polyak & Juditsky, 1992, "Acceleration of Stochastic
Approximation by Averaging"; Tarvainen & Valpola, 2017, "Mean teachers are
better role models".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["EmaWarmup", "ema_decay_at", "ema_update", "tf_warmup"]

# ``False``/``None``: constant decay; ``True``: :func:`tf_warmup`; a callable
# ``n -> d_n`` (capped at the decay).
EmaWarmup = bool | Callable[[jax.Array], jax.typing.ArrayLike] | None


def tf_warmup(count: jax.typing.ArrayLike) -> jax.Array:
    """``(1 + n) / (10 + n)``: 0.1 at the first averaging step, tending to 1."""
    n = jnp.asarray(count, jnp.float32)
    return (1.0 + n) / (10.0 + n)


def ema_decay_at(
    decay: float, count: jax.typing.ArrayLike, warmup: EmaWarmup = False
) -> jax.Array:
    """The decay ``d_n`` used at averaging step ``n = count`` (0-based)."""
    d = jnp.asarray(decay, jnp.float32)
    if warmup is None or warmup is False:
        return d
    schedule = tf_warmup if warmup is True else warmup
    return jnp.minimum(d, jnp.asarray(schedule(jnp.asarray(count)), jnp.float32))


def ema_update(average: Any, new: Any, decay: jax.typing.ArrayLike) -> Any:
    """``d * average + (1 - d) * new`` leaf by leaf, in the average's dtype."""

    def one(e: jax.Array, p: jax.Array) -> jax.Array:
        dt = jnp.asarray(e).dtype
        d = jnp.asarray(decay).astype(jnp.promote_types(dt, jnp.float32))
        return (d * e + (1 - d) * p).astype(dt)

    return jax.tree.map(one, average, new)
