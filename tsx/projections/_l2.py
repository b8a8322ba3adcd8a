"""Euclidean projections onto the l2 ball and sphere: rescale by ``s / ||x||``."""


from typing import Any

import jax
import jax.numpy as jnp

from tsx.tree_utils import tree_norm, tree_scale

__all__ = ["projection_l2_ball", "projection_l2_sphere"]


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the l2 sphere ``{p : \|p\|_2 = scale}``: ``p = s x / \|x\|``.

    Args:
      tree: the tree ``x`` to project (the whole tree is one vector).
      scale: the radius ``s``.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return tree_scale(scale / tree_norm(tree), tree)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the l2 ball ``{p : \|p\|_2 <= scale}``.

    .. math::
        p = \frac{s}{\max(\|x\|_2, s)}\, x

    Args:
      tree: the tree ``x`` to project (the whole tree is one vector).
      scale: the radius ``s``.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    squared_norm = tree_norm(tree, squared=True)
    return tree_scale(scale / jnp.sqrt(jnp.maximum(squared_norm, scale**2)), tree)
