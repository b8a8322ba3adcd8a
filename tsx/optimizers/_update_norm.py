"""Normalising the updates by their global norm.

:math:`u \\leftarrow s\\, u / (\\|u\\|_2 + \\epsilon)`, the norm taken over the
whole tree: the step has length (about) :math:`|s|` whatever the gradient's
size, as in normalised gradient descent (Nesterov, 1984; Hazan et al., 2015,
"Beyond Convexity: Stochastic Quasi-Convex Optimization", arXiv:1507.02030).
"""


import jax

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, init_empty_state
from tsx.validation import (
    NON_NEGATIVE,
    hyperparameters,
    real,
)

__all__ = ["normalize_by_update_norm"]


@hyperparameters(
    scale_factor=real(),
    eps=NON_NEGATIVE,
)
def normalize_by_update_norm(
    scale_factor: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 1e-6
) -> GradientTransformation:
    """``scale_factor * u / (||u|| + eps)`` with ``||u||`` the tree's L2 norm.

    Args:
      scale_factor: length of the normalised step; negative values flip the
        direction (``-1.0`` gives normalised gradient descent).
      eps: added to the norm (keeps a zero update finite).
    """

    def update_fn(updates, state, params=None):
        del params
        denom = (tu.tree_norm(updates) + eps) / scale_factor
        return jax.tree.map(lambda g: g / denom, updates), state

    return GradientTransformation(init_empty_state, update_fn)
