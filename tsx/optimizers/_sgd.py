"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

Plain SGD steps along the negative gradient, :math:`u_t = -\\alpha_t g_t`.
With momentum :math:`\\mu` it keeps the trace :math:`m_t = g_t + \\mu m_{t-1}`
and steps along :math:`-\\alpha_t m_t` (heavy ball, Polyak 1964) or, with
``nesterov=True``, along :math:`-\\alpha_t (g_t + \\mu m_t)` (Sutskever et al.,
2013, "On the importance of initialization and momentum in deep learning",
ICML).
"""


from typing import Any

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule, identity
from tsx._combine import chain
from tsx.transforms import scale_by_learning_rate, trace
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
    r"""Stochastic gradient descent, with optional (Nesterov) momentum.

    .. math::

       m_t = g_t + \mu\, m_{t-1}, \qquad
       u_t = -\eta_t\, m_t \quad (\text{Nesterov: } u_t = -\eta_t (g_t + \mu\, m_t)),

    and :math:`u_t = -\eta_t g_t` without momentum.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      momentum: :math:`\mu` in [0, 1), or None (default) for no momentum (and
        no state).
      nesterov: Nesterov momentum. Default False.
      accumulator_dtype: dtype of :math:`m_t`; None (default): the params'.

    Returns:
      A transformation with state ``(TraceState(trace), lr_state)`` with
      momentum, ``(EmptyState(), lr_state)`` without.

    References:
      Robbins & Monro, "A Stochastic Approximation Method", Ann. Math. Stat. 22
      (1951); Sutskever et al., "On the importance of initialization and
      momentum in deep learning", ICML 2013 (Nesterov momentum).

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.sgd(learning_rate=0.1, momentum=0.9)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    if momentum is not None:
        # trace() would name its own argument, `decay`.
        first = trace(
            decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype
        )
    else:
        first = identity()
    return chain(first, scale_by_learning_rate(learning_rate))
