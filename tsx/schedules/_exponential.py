"""Exponential decay, continuous or in steps."""


import logging

import jax
import jax.numpy as jnp

from tsx._base import Schedule
from tsx.validation import (
    BOOL,
    NON_NEGATIVE,
    hyperparameters,
    integer,
    optional,
    real,
)

__all__ = ["exponential_decay"]

_log = logging.getLogger(__name__)


@hyperparameters(
    init_value=real(),
    transition_steps=integer(whole_floats=True),
    decay_rate=NON_NEGATIVE,
    transition_begin=integer(whole_floats=True),
    staircase=BOOL,
    end_value=optional(real()),
)
def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    r"""Multiply ``init_value`` by ``decay_rate`` every ``transition_steps`` steps.

    With :math:`I` = ``init_value``, :math:`r` = ``decay_rate``, :math:`B` =
    ``transition_begin`` and :math:`T` = ``transition_steps``:

    .. math::
      s(t) = \begin{cases}
        I, & t \le B \\
        I\, r^{(t - B)/T}, & t > B
      \end{cases}

    With ``staircase=True`` the exponent is rounded down,
    :math:`\lfloor (t - B)/T \rfloor`, so the value drops in discrete jumps.
    ``end_value`` bounds the result: a floor when :math:`r < 1`, a ceiling
    when :math:`r > 1`.

    As in Optax, ``transition_steps <= 0`` or ``decay_rate == 0`` give the
    constant schedule ``init_value`` and a negative ``transition_begin`` is
    treated as 0 (logged, not rejected). A negative ``decay_rate`` raises
    ``ValueError``: its fractional powers are not real numbers.

    Args:
      init_value: the value before the decay starts.
      transition_steps: number of steps over which the value is multiplied by
        ``decay_rate`` once.
      decay_rate: the factor applied per ``transition_steps`` steps.
      transition_begin: steps held at ``init_value`` before decaying.
      staircase: decay at discrete intervals instead of continuously.
      end_value: optional bound the decayed value does not cross.

    Returns:
      A function ``step -> value``.
    """
    if transition_steps <= 0:
        _log.info(
            "exponential_decay got transition_steps=%s <= 0; it is the constant "
            "schedule init_value.",
            transition_steps,
        )
        return lambda count: init_value
    if decay_rate == 0:
        _log.info(
            "exponential_decay got decay_rate=0; it is the constant schedule "
            "init_value."
        )
        return lambda count: init_value
    if transition_begin < 0:
        _log.info(
            "exponential_decay got transition_begin=%s < 0; using 0.",
            transition_begin,
        )
        transition_begin = 0

    # A decaying schedule stops at end_value from above, a growing one from below.
    bound = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        elapsed = count - transition_begin
        periods = elapsed / transition_steps
        if staircase:
            periods = jnp.floor(periods)
        value = jnp.where(
            elapsed <= 0, init_value, init_value * jnp.power(decay_rate, periods)
        )
        if end_value is not None:
            value = bound(value, end_value)
        return value

    return schedule
