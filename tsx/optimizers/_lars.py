"""LARS: SGD with momentum and a layer-wise trust ratio.

You et al. (2017), "Large Batch Training of Convolutional Networks",
arXiv:1708.03888. Weight decay is added to the gradient, each layer's
result is scaled by the trust ratio :math:`c\\,\\|\\theta\\|/(\\|d\\| +
\\epsilon)`, then by the learning rate, and finally accumulated as heavy-ball
(or Nesterov) momentum:

.. math::

   d_t = g_t + \\lambda\\theta_t, \\qquad
   s_t = -\\alpha_t\\, c\\, \\frac{\\|\\theta_t\\|}{\\|d_t\\| + \\epsilon}\\, d_t,
   \\qquad m_t = s_t + \\mu m_{t-1}, \\qquad u_t = m_t.
"""


import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms import (
    MaskOrFn,
    add_decayed_weights,
    masked,
    scale_by_learning_rate,
    trace,
)
from tsx.validation import (
    BOOL,
    DECAY,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    schedule_or,
)

__all__ = ["lars"]


@hyperparameters(
    learning_rate=LEARNING_RATE,
    weight_decay=schedule_or(NON_NEGATIVE),
    weight_decay_mask=MASK,
    trust_coefficient=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    trust_ratio_mask=MASK,
    momentum=DECAY,
    nesterov=BOOL,
)
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn | None = True,
    trust_coefficient: jax.typing.ArrayLike = 0.001,
    eps: jax.typing.ArrayLike = 0.0,
    trust_ratio_mask: MaskOrFn | None = True,
    momentum: jax.typing.ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    r"""LARS: SGD with momentum and a per-layer trust ratio.

    .. math::

       r_t &= g_t + \lambda\, \theta_t, \qquad
       r_t \leftarrow c\,
       \frac{\lVert \theta_t \rVert}{\lVert r_t \rVert + \epsilon}\, r_t
       \quad\text{(on ``trust_ratio_mask``)}, \\
       m_t &= \mu\, m_{t-1} - \eta_t\, r_t, \qquad u_t = m_t

    (or :math:`u_t = \mu m_t - \eta_t r_t` with Nesterov momentum).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      weight_decay: :math:`\lambda` >= 0 (or a schedule), added to the gradient.
        Default 0.
      weight_decay_mask: which parameters decay: a tree of booleans, a function
        ``params -> tree``, or True (default) for all.
      trust_coefficient: :math:`c` >= 0. Default 0.001.
      eps: :math:`\epsilon` >= 0, added to the update norm. Default 0.
      trust_ratio_mask: which parameters get the trust ratio (same forms as
        ``weight_decay_mask``). Default True.
      momentum: :math:`\mu`, decay of the momentum, in [0, 1). Default 0.9.
      nesterov: use Nesterov momentum. Default False.

    Returns:
      A transformation with state ``(decay_state, MaskedState(EmptyState()),
      lr_state, TraceState(trace))``.

    References:
      You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks",
      2017, arXiv:1708.03888.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.lars(learning_rate=1.0, trust_coefficient=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0011
    """
    # trace() would name its own argument, `decay`.
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        masked(
            scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
            trust_ratio_mask,
        ),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )
