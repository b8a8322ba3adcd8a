"""Cosine decay (the annealing half-cycle of SGDR)."""


import jax
import jax.numpy as jnp

from tsx._base import Schedule
from tsx.validation import (
    hyperparameters,
    integer,
    real,
)

__all__ = ["cosine_decay_schedule"]


def _as_float_if_int(x):
    # Python ints become int32 under jit and overflow for long runs; as floats
    # they stay exact well beyond any realistic step count.
    return float(x) if isinstance(x, int) else x


@hyperparameters(
    init_value=real(),
    decay_steps=integer(1, whole_floats=True),
    alpha=real(),
    exponent=real(),
)
def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    r"""Decay ``init_value`` along half a cosine over ``decay_steps`` steps.

    With :math:`I` = ``init_value``, :math:`T` = ``decay_steps``,
    :math:`\alpha` = ``alpha`` and :math:`p` = ``exponent``:

    .. math::
      c(t) = \tfrac12\bigl(1 + \cos(\pi \min(t, T) / T)\bigr), \qquad
      s(t) = I\,\bigl((1 - \alpha)\, c(t)^{p} + \alpha\bigr),

    so the value falls from :math:`I` at step 0 to :math:`\alpha I` at step
    :math:`T` and stays there.

    References:
      Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm
      Restarts <https://arxiv.org/abs/1608.03983>`_, ICLR 2017.

    Args:
      init_value: the value at step 0.
      decay_steps: length of the decay, in steps; must be positive.
      alpha: the final value as a fraction of ``init_value``.
      exponent: power applied to the cosine factor.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: if ``decay_steps`` is not positive.
    """
    steps = _as_float_if_int(decay_steps)

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        t = jnp.minimum(_as_float_if_int(count), steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    schedule.boundary_steps = (decay_steps,)
    return schedule
