"""Euclidean projections onto boxes: the orthant, boxes, hypercubes, l-inf balls.

Each of these sets is a product of intervals, so the projection separates into
one clip per coordinate: ``p_i = min(max(x_i, lower_i), upper_i)``.
"""


from typing import Any

import jax
import jax.numpy as jnp

from tsx.tree_utils import tree_full_like

__all__ = [
    "projection_box",
    "projection_hypercube",
    "projection_linf_ball",
    "projection_non_negative",
]


def _is_single_leaf(x: Any) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(x))


def projection_non_negative(tree: Any) -> Any:
    r"""Project onto the non-negative orthant.

    .. math::
        \operatorname{argmin}_{p \ge 0} \|x - p\|_2^2 = \max(x, 0)

    Args:
      tree: the tree ``x`` to project.

    Returns:
      ``max(x, 0)`` leaf-wise, with the structure of ``tree``.
    """
    return jax.tree.map(jax.nn.relu, tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    r"""Project onto the box ``{p : lower <= p <= upper}``.

    .. math::
        \operatorname{argmin}_{\ell \le p \le u} \|x - p\|_2^2
        = \min(\max(x, \ell), u)

    Args:
      tree: the tree ``x`` to project.
      lower: lower bound: a scalar (or array) applied to every leaf, or a tree
        shaped like ``tree``.
      upper: upper bound: likewise.

    Returns:
      the clipped tree, with the structure of ``tree``.
    """
    # A bound that is a single leaf applies to every leaf of the tree (Optax
    # documents this but only supports it when ``tree`` is one array).
    if _is_single_leaf(lower):
        lower = jax.tree.map(lambda _: lower, tree)
    if _is_single_leaf(upper):
        upper = jax.tree.map(lambda _: upper, tree)
    return jax.tree.map(jnp.clip, tree, lower, upper)


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
    r"""Project onto the hypercube ``[0, scale]^d`` (the unit cube by default).

    .. math::
        \operatorname{argmin}_{0 \le p \le s} \|x - p\|_2^2

    Args:
      tree: the tree ``x`` to project.
      scale: side length ``s``: a scalar or a tree shaped like ``tree``.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return projection_box(tree, lower=0, upper=scale)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the l-infinity ball of radius ``scale``.

    .. math::
        \operatorname{argmin}_{\|p\|_\infty \le s} \|x - p\|_2^2
        = \min(\max(x, -s), s)

    Args:
      tree: the tree ``x`` to project.
      scale: the radius ``s``.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return projection_box(
        tree, lower=tree_full_like(tree, -scale), upper=tree_full_like(tree, scale)
    )
