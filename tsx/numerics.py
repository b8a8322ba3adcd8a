"""Numerically safe scalar helpers used by the transformations."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "abs_sq",
    "safe_increment",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
]


def abs_sq(x: jax.typing.ArrayLike) -> jax.Array:
    """``|x|^2`` for real or complex ``x`` (``x * conj(x)``, real-valued)."""
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def safe_increment(count: jax.typing.ArrayLike) -> jax.Array:
    """``count + 1``, saturating at the largest value of its dtype."""
    count = jnp.asarray(count)
    dtype = count.dtype
    if jnp.issubdtype(dtype, jnp.integer):
        top = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.floating):
        top = jnp.finfo(dtype).max
    else:
        raise ValueError(f"count must be an integer or float array, got {dtype}.")
    one = jnp.array(1, dtype=dtype)
    return jnp.where(count < top, count + one, jnp.array(top, dtype=dtype))


def safe_int32_increment(count: jax.typing.ArrayLike) -> jax.Array:
    """``count + 1`` for an int32 counter, saturating at ``2**31 - 1``."""
    count = jnp.asarray(count)
    if count.dtype != jnp.int32:
        raise ValueError(f"count must be int32, got {count.dtype}.")
    return safe_increment(count)


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: int | float | str | None = None,  # noqa: A002 - numpy's name
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
) -> jax.Array:
    """``max(||x||, min_norm)`` with a gradient that is finite at ``x = 0``.

    Where the norm is below ``min_norm`` the input is replaced by ones before
    the norm is taken, so the (unused) branch never divides by zero.
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    x = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
    norm = jnp.squeeze(norm, axis=axis) if not keepdims else norm
    masked = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    return jnp.where(norm <= min_norm, min_norm, masked)


def safe_root_mean_squares(
    x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike
) -> jax.Array:
    """``max(sqrt(mean(x**2)), min_rms)`` with a finite gradient at zero."""
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(jnp.square(x)))
    x = jnp.where(rms <= min_rms, jnp.ones_like(x), x)
    return jnp.where(rms <= min_rms, min_rms, jnp.sqrt(jnp.mean(jnp.square(x))))
