"""Polynomial (and linear) annealing between two values."""


import logging

import jax
import jax.numpy as jnp

from tsx._base import Schedule
from tsx.validation import (
    hyperparameters,
    integer,
    real,
)

__all__ = ["linear_schedule", "polynomial_schedule"]

_log = logging.getLogger(__name__)


@hyperparameters(
    init_value=real(),
    end_value=real(),
    power=real(),
    transition_steps=integer(whole_floats=True),
    transition_begin=integer(whole_floats=True),
)
def polynomial_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    power: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Anneal from ``init_value`` to ``end_value`` along a polynomial.

    With :math:`I` = ``init_value``, :math:`E` = ``end_value``, :math:`p` =
    ``power``, :math:`B` = ``transition_begin`` and :math:`T` =
    ``transition_steps``, the value at step :math:`t` is

    .. math::
      s(t) = E + (I - E)\,\Bigl(1 - \frac{\min(\max(t - B, 0), T)}{T}\Bigr)^{p},

    i.e. :math:`I` up to step :math:`B`, a polynomial path over the next
    :math:`T` steps, and :math:`E` from step :math:`B + T` on.

    Degenerate arguments follow Optax (they are logged, not rejected):
    ``transition_steps <= 0`` gives the constant schedule ``init_value``, and a
    negative ``transition_begin`` is treated as 0.

    Args:
      init_value: value before and at the start of the transition.
      end_value: value at and after the end of the transition.
      power: exponent of the polynomial (1 is linear).
      transition_steps: length of the transition, in steps.
      transition_begin: number of steps the value stays at ``init_value``
        before the transition starts.

    Returns:
      A function ``step -> value``.
    """
    if transition_steps <= 0:
        _log.info(
            "polynomial_schedule got transition_steps=%s <= 0; it is the constant "
            "schedule init_value.",
            transition_steps,
        )
        return lambda count: init_value
    if transition_begin < 0:
        _log.info(
            "polynomial_schedule got transition_begin=%s < 0; using 0.",
            transition_begin,
        )
        transition_begin = 0

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        done = jnp.clip(count - transition_begin, 0, transition_steps)
        remaining = 1 - done / transition_steps
        return (init_value - end_value) * remaining**power + end_value

    schedule.boundary_steps = (transition_begin, transition_begin + transition_steps)
    return schedule


@hyperparameters(
    init_value=real(),
    end_value=real(),
    transition_steps=integer(whole_floats=True),
    transition_begin=integer(whole_floats=True),
)
def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Anneal linearly from ``init_value`` to ``end_value``.

    .. math::
      s(t) = I + (E - I)\,\frac{\min(\max(t - B, 0), T)}{T}

    This is :func:`polynomial_schedule` with ``power=1``, including its
    handling of ``transition_steps <= 0`` (constant ``init_value``) and of a
    negative ``transition_begin`` (treated as 0).

    Args:
      init_value: value before and at the start of the transition.
      end_value: value at and after the end of the transition.
      transition_steps: length of the transition, in steps.
      transition_begin: number of steps held at ``init_value`` first.

    Returns:
      A function ``step -> value``.
    """
    return polynomial_schedule(
        init_value=init_value,
        end_value=end_value,
        power=1,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )
