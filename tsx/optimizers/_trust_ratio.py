"""Layer-wise trust-ratio scaling, as in LARS, LAMB and Fromage.

Each leaf's update :math:`u` is multiplied by the trust ratio

.. math::

   r = c \\cdot \\frac{\\max(\\|p\\|_2, n_{min})}{\\max(\\|u\\|_2, n_{min}) +
   \\epsilon},

so that every layer moves by a step proportional to its own weight norm
(You et al., 2017, "Large Batch Training of Convolutional Networks",
arXiv:1708.03888). When either norm is zero the ratio is taken as 1, so that
zero-initialised layers still move.
"""


import jax
import jax.numpy as jnp

from tsx import numerics
from tsx._base import EmptyState, GradientTransformation, init_empty_state
from tsx.validation import (
    NON_NEGATIVE,
    hyperparameters,
    require_params,
)

__all__ = ["ScaleByTrustRatioState", "scale_by_trust_ratio"]

ScaleByTrustRatioState = EmptyState


@hyperparameters(
    min_norm=NON_NEGATIVE,
    trust_coefficient=NON_NEGATIVE,
    eps=NON_NEGATIVE,
)
def scale_by_trust_ratio(
    min_norm: jax.typing.ArrayLike = 0.0,
    trust_coefficient: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    """Multiply each leaf's update by its trust ratio ``c * ||p|| / (||u|| + eps)``.

    Args:
      min_norm: both norms are clipped from below to this value (0: no
        clipping).
      trust_coefficient: the multiplier ``c``.
      eps: added to the update norm in the denominator.
    """

    def scale_leaf(u, p):
        p_norm = numerics.safe_norm(p, min_norm)
        u_norm = numerics.safe_norm(u, min_norm)
        ratio = trust_coefficient * p_norm / (u_norm + eps)
        degenerate = jnp.logical_or(p_norm == 0.0, u_norm == 0.0)
        return u * jnp.where(degenerate, jnp.array(1.0, dtype=p.dtype), ratio)

    def update_fn(updates, state, params=None):
        require_params(params, "scale_by_trust_ratio")
        return jax.tree.map(scale_leaf, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)
