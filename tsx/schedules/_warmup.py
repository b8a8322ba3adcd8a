"""Linear warmup followed by a constant, cosine or exponential phase."""


import jax

from tsx._base import Schedule
from tsx.schedules._cosine import cosine_decay_schedule
from tsx.schedules._exponential import exponential_decay
from tsx.schedules._join import join_schedules
from tsx.schedules._polynomial import linear_schedule
from tsx.validation import (
    BOOL,
    NON_NEGATIVE,
    STEPS,
    hyperparameters,
    integer,
    optional,
    real,
)

__all__ = [
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


@hyperparameters(
    init_value=real(),
    peak_value=real(),
    warmup_steps=STEPS,
)
def warmup_constant_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
) -> Schedule:
    r"""Ramp linearly from ``init_value`` to ``peak_value``, then hold it.

    .. math:: s(t) = I + (P - I)\,\min(t, W) / W

    As in Optax this is ``linear_schedule(init_value, peak_value,
    warmup_steps)``, so ``warmup_steps=0`` gives the constant ``init_value``.

    Args:
      init_value: the value at step 0.
      peak_value: the value reached at ``warmup_steps`` and kept.
      warmup_steps: length of the ramp; must be >= 0.

    Returns:
      A function ``step -> value``.
    """
    return linear_schedule(
        init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
    )


@hyperparameters(
    init_value=real(),
    peak_value=real(),
    warmup_steps=STEPS,
    decay_steps=STEPS,
    end_value=real(),
    exponent=real(),
)
def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    r"""Linear warmup to ``peak_value``, then cosine decay to ``end_value``.

    With :math:`W` = ``warmup_steps`` and :math:`D` = ``decay_steps`` (the
    *total* length, warmup included):

    .. math::
      s(t) = \begin{cases}
        I + (P - I)\, t / W, & t < W \\
        E + (P - E)\,\Bigl[\tfrac12\bigl(1 + \cos\tfrac{\pi \min(t - W, D - W)}
          {D - W}\bigr)\Bigr]^{p}, & t \ge W
      \end{cases}

    (for ``peak_value == 0`` the decay phase is 0).

    References:
      Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm
      Restarts <https://arxiv.org/abs/1608.03983>`_, ICLR 2017; Goyal et al.,
      `Accurate, Large Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017
      (linear warmup).

    Args:
      init_value: the value at step 0.
      peak_value: the value at the end of the warmup.
      warmup_steps: length of the warmup; must be >= 0.
      decay_steps: total length of warmup plus decay; must exceed
        ``warmup_steps``.
      end_value: the value at and after step ``decay_steps``.
      exponent: power applied to the cosine factor.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: if ``warmup_steps < 0`` or ``decay_steps <= warmup_steps``.
    """
    if not decay_steps - warmup_steps > 0:
        raise ValueError(
            "decay_steps (the total length, warmup included) must exceed "
            f"warmup_steps, got decay_steps={decay_steps!r}, "
            f"warmup_steps={warmup_steps!r}."
        )
    # The cosine phase decays to alpha * peak_value; pick alpha to land on
    # end_value (a zero peak has nothing to decay).
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    warmup = linear_schedule(
        init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
    )
    decay = cosine_decay_schedule(
        init_value=peak_value,
        decay_steps=decay_steps - warmup_steps,
        alpha=alpha,
        exponent=exponent,
    )
    return join_schedules([warmup, decay], [warmup_steps])


@hyperparameters(
    init_value=real(),
    peak_value=real(),
    warmup_steps=STEPS,
    transition_steps=integer(whole_floats=True),
    decay_rate=NON_NEGATIVE,
    transition_begin=integer(whole_floats=True),
    staircase=BOOL,
    end_value=optional(real()),
)
def warmup_exponential_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    r"""Linear warmup to ``peak_value``, then :func:`exponential_decay` from it.

    .. math::
      s(t) = \begin{cases}
        I + (P - I)\, t / W, & t < W \\
        \mathrm{exponential\_decay}(P, \dots)(t - W), & t \ge W
      \end{cases}

    Args:
      init_value: the value at step 0.
      peak_value: the value at the end of the warmup, where the decay starts.
      warmup_steps: length of the warmup; must be >= 0.
      transition_steps: see :func:`exponential_decay`.
      decay_rate: see :func:`exponential_decay`.
      transition_begin: steps held at ``peak_value`` after the warmup.
      staircase: decay at discrete intervals.
      end_value: optional bound the decayed value does not cross.

    Returns:
      A function ``step -> value``.
    """
    warmup = linear_schedule(
        init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
    )
    decay = exponential_decay(
        init_value=peak_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
        end_value=end_value,
    )
    return join_schedules([warmup, decay], [warmup_steps])
