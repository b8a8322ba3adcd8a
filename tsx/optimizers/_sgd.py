"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

Plain SGD steps along the negative gradient, :math:`u_t = -\\alpha_t g_t`.
With momentum :math:`\\mu` it keeps the trace :math:`m_t = g_t + \\mu m_{t-1}`
and steps along :math:`-\\alpha_t m_t` (heavy ball, Polyak 1964) or, with
``nesterov=True``, along :math:`-\\alpha_t (g_t + \\mu m_t)` (Sutskever et al.,
2013, "On the importance of initialization and momentum in deep learning",
ICML).
"""

from __future__ import annotations

from typing import Any

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule, identity
from tsx._combine import chain
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.transforms._trace import trace
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    hyperparameters,
    optional,
)

__all__ = ["sgd"]


@hyperparameters(
    learning_rate=LEARNING_RATE,
    momentum=optional(DECAY),
    nesterov=BOOL,
    accumulator_dtype=DTYPE,
)
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: jax.typing.ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    """SGD: ``-learning_rate * g``, or ``-learning_rate * m`` with momentum.

    Args:
      learning_rate: step size, a number or a schedule of the step count.
      momentum: decay ``mu`` of the momentum trace ``m = g + mu * m_prev``;
        ``None`` (the default) keeps no state and applies no momentum.
      nesterov: step along ``g + mu * m`` instead of ``m``.
      accumulator_dtype: dtype of the momentum trace (default: the params').

    State: ``(TraceState(trace), lr_state)`` with momentum, otherwise
    ``(EmptyState(), lr_state)``.
    """
    if momentum is not None:
        # trace() would name its own argument, `decay`.
        first = trace(
            decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype
        )
    else:
        first = identity()
    return chain(first, scale_by_learning_rate(learning_rate))
