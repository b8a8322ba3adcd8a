"""Running schedules one after another."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tsx._base import Schedule
from tsx.validation import (
    FUNCTION,
    STEPS,
    any_of,
    hyperparameters,
    real,
    sequence_of,
)

__all__ = ["join_schedules"]


def _concrete_number(x) -> float | None:
    # Traced or array-valued boundaries are only known at run time: not checked.
    try:
        return float(np.asarray(x))
    except Exception:  # noqa: BLE001
        return None


def _check_join_arguments(schedules: Sequence[Schedule], boundaries) -> None:
    if len(schedules) == 0:
        raise ValueError("schedules must hold at least one schedule, got [].")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            "boundaries must have one entry fewer than schedules: got "
            f"{len(schedules)} schedules and boundaries={list(boundaries)!r}."
        )
    values = [_concrete_number(b) for b in boundaries]
    for i in range(1, len(values)):
        prev, cur = values[i - 1], values[i]
        if prev is not None and cur is not None and cur < prev:
            raise ValueError(
                "boundaries must be non-decreasing, got "
                f"boundaries={list(boundaries)!r}."
            )


@hyperparameters(
    schedules=sequence_of(FUNCTION),
    boundaries=any_of(sequence_of(STEPS), real(0.0)),
)
def join_schedules(
    schedules: Sequence[Schedule], boundaries: Sequence[int]
) -> Schedule:
    r"""Switch from one schedule to the next at the given steps.

    With boundaries :math:`b_1 \le \dots \le b_{n-1}` (and :math:`b_0 = 0`),
    schedule :math:`k` is in force for :math:`b_k \le t < b_{k+1}` and sees
    the steps counted from its own start:

    .. math:: s(t) = s_k(t - b_k).

    Args:
      schedules: the schedules, in order.
      boundaries: the steps at which each schedule after the first takes over;
        one fewer than ``schedules``, non-decreasing.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: if ``schedules`` is empty, ``boundaries`` has the wrong length
        or decreases. (Optax checks neither and silently drops the extras.)
    """
    _check_join_arguments(schedules, boundaries)
    starts = tuple(boundaries)
    first, rest = schedules[0], tuple(schedules[1:])

    def schedule(step: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
        value = first(step)
        for start, later in zip(starts, rest, strict=True):
            value = jnp.where(step < start, value, later(step - start))
        return value

    # Where the pieces meet, and their own boundaries, for the build-time check
    # of tsx.validation.schedule_or.
    inner = [getattr(first, "boundary_steps", ())] + [
        tuple(start + b for b in getattr(later, "boundary_steps", ()))
        for start, later in zip(starts, rest, strict=True)
    ]
    schedule.boundary_steps = tuple(sorted({*starts, *(b for bs in inner for b in bs)}))
    return schedule
