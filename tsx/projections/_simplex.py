"""Euclidean projections onto the simplex and the l1 ball and sphere.

The simplex projection uses the sort-based algorithm: sort ``x`` decreasingly
as ``u``, find the support size ``k`` (the largest ``j`` with
``u_j - (sum_{i<=j} u_i - s) / j > 0``), then ``p = max(x - tau, 0)`` with
``tau = (sum_{i<=k} u_i - s) / k``. Held, Wolfe and Crowder (1974); Duchi et
al., "Efficient projections onto the l1-ball for learning in high dimensions",
ICML 2008; Condat, "Fast projection onto the simplex and the l1 ball",
Math. Programming 2016.
"""


from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

from tsx.tree_utils import tree_mul, tree_norm

__all__ = ["projection_l1_ball", "projection_l1_sphere", "projection_simplex"]


@jax.custom_jvp
def _unit_simplex(values: jax.Array) -> jax.Array:
    """Projection of a 1-D array onto ``{p >= 0, sum(p) = 1}``."""
    n = values.shape[0]
    u = jnp.sort(values)[::-1]
    partial_sums = jnp.cumsum(u)
    counts = jnp.arange(n) + 1
    # Coordinate j is in the support iff it stays positive after the shift
    # computed from the j largest entries; the support is a prefix of u.
    in_support = 1 / counts + (u - partial_sums / counts) > 0
    k = jnp.count_nonzero(in_support)
    return jax.nn.relu(1 / k + (values - partial_sums[k - 1] / k))


@_unit_simplex.defjvp
def _unit_simplex_jvp(primals, tangents):
    (values,) = primals
    (dvalues,) = tangents
    out = _unit_simplex(values)
    # On the support S the map is x -> x - mean_S(x) + const, elsewhere 0, so
    # its Jacobian is diag(1_S) - 1_S 1_S^T / |S|.
    support = out > 0
    size = jnp.count_nonzero(support)
    dout = support * dvalues - (jnp.dot(support, dvalues) / size) * support
    return out, dout


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the simplex of total mass ``scale``.

    .. math::
        \operatorname{argmin}_{p} \|x - p\|_2^2 \quad \text{s.t.} \quad
        p \ge 0,\ \textstyle\sum_i p_i = s

    The whole tree is treated as one flat vector. Differentiable: the
    Jacobian on the support ``S`` is ``I - 1 1^T / |S|`` (zero off it).

    Args:
      tree: the tree ``x`` to project.
      scale: the total mass ``s`` (1 gives the probability simplex).

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    flat, unravel = flatten_util.ravel_pytree(tree)
    return unravel(scale * _unit_simplex(flat / scale))


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the l1 sphere ``{p : \|p\|_1 = scale}``.

    By symmetry the projection keeps the signs of ``x`` and projects ``|x|``
    onto the simplex of mass ``scale``: ``p = sign(x) * P_simplex(|x|)``.

    Args:
      tree: the tree ``x`` to project.
      scale: the radius.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    magnitudes = projection_simplex(jax.tree.map(jnp.abs, tree), scale)
    return tree_mul(jax.tree.map(jnp.sign, tree), magnitudes)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
    r"""Project onto the l1 ball ``{p : \|p\|_1 <= scale}``.

    Points inside the ball are kept; points outside go to the l1 sphere.

    Args:
      tree: the tree ``x`` to project.
      scale: the radius.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return jax.lax.cond(
        tree_norm(tree, ord=1) <= scale,
        lambda t: t,
        lambda t: projection_l1_sphere(t, scale),
        tree,
    )
