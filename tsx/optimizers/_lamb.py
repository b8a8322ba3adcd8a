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

from __future__ import annotations

from typing import Any

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers._adam import scale_by_adam
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms._masking import MaskOrFn
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.transforms._weight_decay import add_decayed_weights
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
    """LAMB: ``-learning_rate * trust_ratio * (adam_direction + wd * params)``.

    Args:
      learning_rate: a number or a schedule of the step count.
      b1, b2, eps, eps_root: Adam's hyperparameters (see ``scale_by_adam``).
      weight_decay: decoupled weight decay, applied before the trust ratio.
      mask: which parameters decay (a tree of booleans or a function).
      nu_dtype: tsx addition; dtype in which Adam's second moment is stored.

    State: ``(ScaleByAdamState, decay_state, EmptyState, lr_state)``.
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )
