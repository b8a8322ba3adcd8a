"""LAMB: Adam's direction rescaled layer-wise by a trust ratio.

You et al. (2020), "Large Batch Optimization for Deep Learning: Training
BERT in 76 minutes", arXiv:1904.00962. For each layer, with Adam's direction
:math:`r_t = \\hat m_t / (\\sqrt{\\hat v_t + \\bar\\epsilon} + \\epsilon)`
and weight decay :math:`\\lambda`:

.. math::

   d_t = r_t + \\lambda\\theta_t, \\qquad
   u_t = -\\alpha_t \\frac{\\|\\theta_t\\|}{\\|d_t\\|}\\, d_t

(the ratio is 1 where either norm is zero).
"""


from typing import Any

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers._adam import scale_by_adam
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    schedule_or,
)

__all__ = ["lamb"]


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    weight_decay=schedule_or(NON_NEGATIVE),
    mask=MASK,
    nu_dtype=DTYPE,
)
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""LAMB: Adam's direction, rescaled per layer by a trust ratio.

    .. math::

       r_t &= \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
              + \lambda\, \theta_t, \\
       u_t &= -\eta_t\, \frac{\lVert \theta_t \rVert}{\lVert r_t \rVert}\, r_t

    per parameter block (the ratio is 1 where either norm is 0), with Adam's
    moments :math:`\hat m_t, \hat v_t` (see :func:`adam`).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-6.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      weight_decay: :math:`\lambda` >= 0 (or a schedule), applied before the
        trust ratio. Default 0.
      mask: which parameters decay: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      decay_state, EmptyState(), lr_state)``.

    References:
      You et al., "Large Batch Optimization for Deep Learning: Training BERT in
      76 minutes", ICLR 2020, arXiv:1904.00962.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.lamb(learning_rate=0.05)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0068
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )
