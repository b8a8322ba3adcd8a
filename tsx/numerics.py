"""Numerically safe scalar helpers used by the transformations."""


import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import checkify

__all__ = [
    "abs_sq",
    "checked_schedules",
    "schedule_value",
    "safe_increment",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
]


def abs_sq(x: jax.typing.ArrayLike) -> jax.Array:
    """``|x|^2`` for real or complex ``x`` (``x * conj(x)``, real-valued).

    Args:
      x: a real or complex array.
    """
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def safe_increment(count: jax.typing.ArrayLike) -> jax.Array:
    """``count + 1``, saturating at the largest value of its dtype.

    Args:
      count: an integer or float counter.
    """
    count = jnp.asarray(count)
    dtype = count.dtype
    if jnp.issubdtype(dtype, jnp.integer):
        top = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.floating):
        top = jnp.finfo(dtype).max
    else:
        raise ValueError(f"count must be an integer or float array, got {dtype}.")
    # The bound as an array of the counter's dtype: a Python int above int32's
    # range would not convert when 64-bit types are off (uint32 counters).
    top = jnp.array(top, dtype=dtype)
    return jnp.where(count < top, count + jnp.array(1, dtype=dtype), top)


def safe_int32_increment(count: jax.typing.ArrayLike) -> jax.Array:
    """``count + 1`` for an int32 counter, saturating at ``2**31 - 1``.

    Args:
      count: an int32 counter.
    """
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

    Args:
      x: an array.
      min_norm: the smallest value returned.
      ord: the norm's order, as in ``jnp.linalg.norm``.
      axis: the axes to take the norm over (None: all).
      keepdims: keep the reduced axes with size 1.
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
    """``max(sqrt(mean(|x|**2)), min_rms)`` with a finite gradient at zero.

    Args:
      x: an array.
      min_rms: the smallest value returned.
    """
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(abs_sq(x)))
    x = jnp.where(rms <= min_rms, jnp.ones_like(x), x)
    return jnp.where(rms <= min_rms, min_rms, jnp.sqrt(jnp.mean(abs_sq(x))))


_CHECK_SCHEDULES = contextvars.ContextVar("tsx_check_schedules", default=False)


@contextlib.contextmanager
def checked_schedules() -> Iterator[None]:
    """Steps traced inside report a schedule that returns NaN or Inf.

    Within this context, :func:`schedule_value` adds a
    :func:`jax.experimental.checkify.debug_check` to the programs being
    traced; run them under :func:`~jax.experimental.checkify.checkify` to get
    an error naming the hyperparameter and the step. Tracing happens at a
    jitted function's first call, so that call must be inside the context.

    Outside it (the default) no check is traced: a check is a JAX effect, and
    a jitted function with an effect loses JAX's fast C++ dispatch path,
    which costs about a millisecond per call.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> from jax.experimental import checkify
      >>> tx = tsx.sgd(lambda count: jnp.log(1.0 - count))  # NaN from step 2
      >>> params = {"w": jnp.ones(2)}
      >>> step = jax.jit(checkify.checkify(
      ...     lambda s: tx.update(params, s, params)[1]))
      >>> with tsx.numerics.checked_schedules():
      ...     err, state = step(tx.init(params))
      >>> err.get() is None
      True
      >>> err, state = step(state)
      >>> err, state = step(state)
      >>> print(err.get().split(" (")[0])
      the learning rate schedule returned nan at step 2
    """
    token = _CHECK_SCHEDULES.set(True)
    try:
        yield
    finally:
        _CHECK_SCHEDULES.reset(token)


def schedule_value(
    value: Any, count: jax.typing.ArrayLike, name: str = "schedule"
) -> Any:
    """``value(count)`` when ``value`` is a schedule, else ``value`` itself.

    The one place a hyperparameter given as a schedule is evaluated. Traced
    inside :func:`checked_schedules`, a schedule that returns NaN or Inf is a
    checkable error naming ``name`` and the step; otherwise nothing is added
    to the program (and with ``TrainState(skip_nonfinite=True)`` the step such
    a value spoils is refused).

    Args:
      value: a number or a schedule ``step -> value``.
      count: the step at which to evaluate a schedule.
      name: the hyperparameter's name, for the error message.
    """
    if not callable(value):
        return value
    out = value(count)
    if _CHECK_SCHEDULES.get():
        checkify.debug_check(
            jnp.all(jnp.isfinite(jnp.asarray(out))),
            f"the {name} schedule returned {{value}} at step {{step}}",
            value=jnp.asarray(out),
            step=jnp.asarray(count),
        )
    return out
