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

from __future__ import annotations

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms._masking import MaskOrFn, masked
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.transforms._trace import trace
from tsx.transforms._weight_decay import add_decayed_weights
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
    """LARS: weight decay, trust ratio, learning rate, then momentum.

    Args:
      learning_rate: a number or a schedule of the step count.
      weight_decay: coefficient ``lambda`` of the decay added to the gradient.
      weight_decay_mask: which parameters decay (tree of booleans, function,
        or ``True`` for all).
      trust_coefficient: the trust-ratio multiplier ``c``.
      eps: added to the update norm in the trust ratio.
      trust_ratio_mask: which parameters get the trust ratio.
      momentum: decay ``mu`` of the momentum trace.
      nesterov: use Nesterov momentum.

    State: ``(decay_state, MaskedState(EmptyState), lr_state,
    TraceState(trace))``.
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
