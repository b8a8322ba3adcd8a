"""Euclidean projections onto a line, a hyperplane and a halfspace.

With ``<.,.>`` the inner product of two trees seen as flat vectors:

* onto the line spanned by ``a``: ``(<x, a> / <a, a>) a``;
* onto ``{y : <a, y> = b}``: ``x + ((b - <x, a>) / <a, a>) a``;
* onto ``{y : <a, y> <= b}``: the same step, taken only when it moves toward
  the halfspace (its coefficient clipped at 0 from above).
"""


from typing import Any

import jax
import jax.numpy as jnp

from tsx.tree_utils import tree_add_scale, tree_scale, tree_vdot

__all__ = ["projection_halfspace", "projection_hyperplane", "projection_vector"]


def projection_vector(x: Any, a: Any) -> Any:
    r"""Project ``x`` onto the line spanned by ``a``.

    .. math::
        \operatorname{proj}_a x = \frac{\langle x, a\rangle}{\langle a, a\rangle} a

    Args:
      x: the tree to project.
      a: the direction, a tree with the structure of ``x``.

    Returns:
      a tree with the structure of ``x``.
    """
    return tree_scale(tree_vdot(x, a) / tree_vdot(a, a), a)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
    r"""Project ``x`` onto the hyperplane ``{y : <a, y> = b}``.

    .. math::
        y = x + \frac{b - \langle a, x\rangle}{\langle a, a\rangle} a

    Args:
      x: the tree to project.
      a: the normal, a tree with the structure of ``x``.
      b: the scalar offset.

    Returns:
      a tree with the structure of ``x``.
    """
    step = (b - tree_vdot(x, a)) / tree_vdot(a, a)
    return tree_add_scale(x, step, a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
    r"""Project ``x`` onto the halfspace ``{y : <a, y> <= b}``.

    .. math::
        y = x + \min\Big(0, \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\Big) a

    Args:
      x: the tree to project.
      a: the normal, a tree with the structure of ``x``.
      b: the scalar offset.

    Returns:
      a tree with the structure of ``x``.
    """
    step = jnp.minimum((b - tree_vdot(x, a)) / tree_vdot(a, a), 0)
    return tree_add_scale(x, step, a)
