"""Piecewise schedules: constant between boundaries, or interpolated."""


from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from tsx._base import Schedule
from tsx.validation import (
    NON_NEGATIVE,
    STEPS,
    Kind,
    choice,
    hyperparameters,
    optional,
    real,
)

__all__ = ["piecewise_constant_schedule", "piecewise_interpolate_schedule"]


def _scales_problem(value: Any) -> type[Exception] | None:
    if not isinstance(value, Mapping):
        return TypeError
    found = [STEPS.problem(k) for k in value] + [
        NON_NEGATIVE.problem(v) for v in value.values()
    ]
    if TypeError in found:
        return TypeError
    return ValueError if ValueError in found else None


_BOUNDARIES_AND_SCALES = optional(
    Kind("a dict {step: factor} with factors >= 0", _scales_problem)
)


@hyperparameters(
    init_value=real(),
    boundaries_and_scales=_BOUNDARIES_AND_SCALES,
)
def piecewise_constant_schedule(
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""Hold a value, multiplying it by a factor at each boundary crossed.

    For boundaries :math:`b_i` with factors :math:`f_i`,

    .. math:: s(t) = I \prod_{i:\, t \ge b_i} f_i .

    Args:
      init_value: the value before the first boundary.
      boundaries_and_scales: ``{step: factor}``; from ``step`` on, the value is
        multiplied by ``factor``. Factors must be non-negative.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: if a factor is negative (the message names its boundary).
    """
    jumps = sorted((boundaries_and_scales or {}).items())

    def schedule(count: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
        value = init_value
        for boundary, factor in jumps:
            value = value * jnp.where(count < boundary, 1.0, factor)
        return value

    schedule.boundary_steps = tuple(int(b) for b, _ in jumps)
    return schedule


def _linear_between(start, end, frac):
    return start + (end - start) * frac


def _cosine_between(start, end, frac):
    # Half a cosine: starts flat at ``start`` and lands flat on ``end``.
    return end + (start - end) * 0.5 * (1 + jnp.cos(jnp.pi * frac))


_INTERPOLATORS: dict[str, Callable] = {
    "linear": _linear_between,
    "cosine": _cosine_between,
}


@hyperparameters(
    interpolate_type=choice("linear", "cosine"),
    init_value=real(),
    boundaries_and_scales=_BOUNDARIES_AND_SCALES,
)
def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""Interpolate between accumulated levels set at step boundaries.

    With sorted boundaries :math:`0 = b_0 < b_1 < \dots < b_n` and factors
    :math:`f_1, \dots, f_n`, the levels are :math:`v_0 = I` and
    :math:`v_k = I \prod_{i \le k} f_i`. Between :math:`b_k` and
    :math:`b_{k+1}` the value moves from :math:`v_k` to :math:`v_{k+1}`
    linearly or along half a cosine, with progress
    :math:`(t - b_k) / \max(b_{k+1} - b_k, 1)`; from :math:`b_n` on it is
    :math:`v_n`. (As in Optax, steps before 0 give 0.)

    Note the interpolation runs between the *accumulated* levels, not between
    the raw factors.

    Args:
      interpolate_type: ``'linear'`` or ``'cosine'``.
      init_value: the value at step 0.
      boundaries_and_scales: ``{step: factor}`` defining the levels; factors
        must be non-negative.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: for an unknown ``interpolate_type`` or a negative factor.
    """
    interpolate = _INTERPOLATORS[interpolate_type]
    pairs = sorted((boundaries_and_scales or {}).items())
    factors = tuple(f for _, f in pairs)
    knots = (0, *(b for b, _ in pairs))
    segments = tuple(zip(knots[:-1], knots[1:], strict=True))
    last = knots[-1]

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        levels = jnp.cumprod(jnp.asarray((init_value, *factors)))
        # Steps before 0 (and before any segment) give 0, as in Optax.
        value = jnp.where(count >= last, levels[-1], 0.0)
        for k, (start, stop) in enumerate(segments):
            progress = (count - start) / max(stop - start, 1)
            inside = jnp.logical_and(count >= start, count < stop)
            value = jnp.where(
                inside, interpolate(levels[k], levels[k + 1], progress), value
            )
        return value

    return schedule
