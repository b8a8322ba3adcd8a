"""One-cycle learning-rate policies (super-convergence)."""


import jax

from tsx._base import Schedule
from tsx.schedules._piecewise import piecewise_interpolate_schedule
from tsx.validation import (
    POSITIVE,
    PROBABILITY,
    hyperparameters,
    integer,
    real,
)

__all__ = ["cosine_onecycle_schedule", "linear_onecycle_schedule"]


@hyperparameters(
    transition_steps=integer(1, whole_floats=True),
    peak_value=real(),
    pct_start=PROBABILITY,
    pct_final=PROBABILITY,
    div_factor=POSITIVE,
    final_div_factor=POSITIVE,
)
def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""Three linear phases: up to ``peak_value``, back down, then annealing.

    With :math:`T` = ``transition_steps``, :math:`P` = ``peak_value`` and
    :math:`I = P / \text{div\_factor}`:

    * steps :math:`0 \to \lfloor \text{pct\_start}\, T \rfloor`: :math:`I \to P`;
    * up to :math:`\lfloor \text{pct\_final}\, T \rfloor`: :math:`P \to I`;
    * up to :math:`T`: :math:`I \to I / \text{final\_div\_factor}`, held after.

    It is :func:`piecewise_interpolate_schedule` (``'linear'``) with those
    three boundaries.

    References:
      Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks
      Using Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.

    Args:
      transition_steps: length of the cycle; must be positive.
      peak_value: the largest value, reached at ``pct_start`` of the cycle.
      pct_start: fraction of the cycle spent rising, in [0, 1].
      pct_final: fraction of the cycle at which the value is back at its
        start, in [pct_start, 1].
      div_factor: ``init_value = peak_value / div_factor``; positive.
      final_div_factor: the final value is ``init_value / final_div_factor``;
        positive.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: naming the first argument out of range.
    """
    if pct_final < pct_start:
        raise ValueError(
            "pct_final must be >= pct_start, got "
            f"pct_start={pct_start!r}, pct_final={pct_final!r}."
        )
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(pct_final * transition_steps): 1.0 / div_factor,
            transition_steps: 1.0 / final_div_factor,
        },
    )


@hyperparameters(
    transition_steps=integer(1, whole_floats=True),
    peak_value=real(),
    pct_start=PROBABILITY,
    div_factor=POSITIVE,
    final_div_factor=POSITIVE,
)
def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""Rise to ``peak_value`` and anneal back down, both along half cosines.

    With :math:`T` = ``transition_steps``, :math:`P` = ``peak_value`` and
    :math:`I = P / \text{div\_factor}`, the value moves from :math:`I` to
    :math:`P` over the first :math:`\lfloor \text{pct\_start}\,T \rfloor`
    steps, then to :math:`I / \text{final\_div\_factor}` at step :math:`T`,
    and stays there (:func:`piecewise_interpolate_schedule`, ``'cosine'``).

    References:
      Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks
      Using Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.

    Args:
      transition_steps: length of the cycle; must be positive.
      peak_value: the largest value, reached at ``pct_start`` of the cycle.
      pct_start: fraction of the cycle spent rising, in [0, 1].
      div_factor: ``init_value = peak_value / div_factor``; positive.
      final_div_factor: the final value is ``init_value / final_div_factor``;
        positive.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: naming the first argument out of range.
    """
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        },
    )
