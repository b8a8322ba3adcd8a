"""The constant schedule."""


import jax

from tsx._base import Schedule
from tsx.validation import (
    hyperparameters,
    real,
)

__all__ = ["constant_schedule"]


@hyperparameters(
    value=real(),
)
def constant_schedule(value: jax.typing.ArrayLike) -> Schedule:
    """A schedule that ignores the step and always returns ``value``.

    .. math:: s(t) = v

    ``value`` is returned as given (a Python number stays a Python number),
    so the schedule adds no array conversion of its own.

    Args:
      value: the value held for every step.

    Returns:
      A function ``step -> value``.
    """

    def schedule(count: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
        del count
        return value

    return schedule
