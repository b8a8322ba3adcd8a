"""Sign-based descent: signSGD and Signum.

Using only the sign of each gradient coordinate goes back to Rprop; in
signSGD (Bernstein et al., 2018, "signSGD: Compressed Optimisation for
Non-Convex Problems", arXiv:1802.04434) the update is
:math:`u_t = -\\alpha_t\\,\\mathrm{sign}(g_t)`, and Signum takes the sign of an
exponential moving average instead,

.. math::

   m_t = \\beta m_{t-1} + (1-\\beta) g_t, \\qquad
   u_t = -\\alpha_t\\,\\mathrm{sign}(m_t)

(see also Zhao et al., 2024, "Deconstructing What Makes a Good Optimizer for
Language Models", arXiv:2407.07972). A sign is scale-free, so the average
needs no bias correction.
"""


from typing import Any

import jax
import jax.numpy as jnp

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    init_empty_state,
)
from tsx._combine import chain
from tsx.transforms import ema, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    hyperparameters,
)

__all__ = ["scale_by_sign", "sign_sgd", "signum"]


def scale_by_sign() -> GradientTransformation:
    """Replace each update coordinate by its sign (-1, 0 or 1)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
)
def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformationExtraArgs:
    r"""signSGD: steps along the sign of the gradient.

    .. math::

       u_t = -\eta_t\, \mathrm{sign}(g_t).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.

    Returns:
      A transformation with state ``(EmptyState(), lr_state)``.

    References:
      Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex
      Problems", ICML 2018, arXiv:1802.04434.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.sign_sgd(learning_rate=0.01)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(300):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


@hyperparameters(
    learning_rate=LEARNING_RATE,
    beta=DECAY,
    accumulator_dtype=DTYPE,
)
def signum(
    learning_rate: ScalarOrSchedule,
    beta: jax.typing.ArrayLike = 0.9,
    accumulator_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Signum: steps along the sign of a gradient moving average.

    .. math::

       m_t = \beta\, m_{t-1} + (1 - \beta)\, g_t, \qquad
       u_t = -\eta_t\, \mathrm{sign}(m_t).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      beta: :math:`\beta`, decay of the average, in [0, 1). Default 0.9.
      accumulator_dtype: dtype of :math:`m_t`; None (default): the params'.

    Returns:
      A transformation with state ``(EmaState(count, ema), EmptyState(),
      lr_state)``.

    References:
      Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex
      Problems", ICML 2018, arXiv:1802.04434.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.signum(learning_rate=0.01)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(300):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0004
    """
    # ema() would name its own argument, `decay`.
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )
