"""Linear algebra on pytrees: sums, products, norms and tree constructors."""


import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from tsx.sharding import explicit_spec, reshard

__all__ = [
    "tree_add",
    "tree_all_finite",
    "tree_add_scale",
    "tree_allclose",
    "tree_batch_shape",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_full_like",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_real",
    "tree_scale",
    "tree_size",
    "tree_sub",
    "tree_sum",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    """Leaf-wise ``x + y (+ ...)``.

    Args:
      tree_x: a tree of arrays.
      tree_y: a tree with the same structure.
      *other_trees: more trees with the same structure, added too.
    """
    return jax.tree.map(
        lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y, *other_trees
    )


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
    """Leaf-wise ``x - y``.

    Args:
      tree_x: a tree of arrays.
      tree_y: a tree with the same structure.
    """
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
    """Leaf-wise ``x * y``.

    Args:
      tree_x: a tree of arrays.
      tree_y: a tree with the same structure.
    """
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
    """Leaf-wise ``x / y``.

    Args:
      tree_x: a tree of arrays.
      tree_y: a tree with the same structure.
    """
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
    """``scalar * x`` for every leaf.

    Args:
      scalar: a number (or 0-d array).
      tree: a tree of arrays.
    """
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
    """``x + scalar * y`` leaf-wise; a ``None`` leaf of ``tree_x`` stays ``None``.

    Args:
      tree_x: a tree of arrays.
      scalar: a number (or 0-d array).
      tree_y: a tree with ``tree_x``'s structure.
    """
    return jax.tree.map(
        lambda x, y: None if x is None else x + scalar * y,
        tree_x,
        tree_y,
        is_leaf=lambda x: x is None,
    )


def _leaf_vdot(a: jax.Array, b: jax.Array) -> jax.Array:
    # Full precision: on TPUs/GPUs the default matmul precision is lower.
    highest = jax.lax.Precision.HIGHEST
    spec = explicit_spec(a) or explicit_spec(b)
    if spec is None:
        return jnp.vdot(jnp.ravel(a), jnp.ravel(b), precision=highest)
    # Explicitly sharded: flattening would need a layout for the result, and
    # the contraction one for its output (a replicated scalar).
    a, b = reshard((a, b), spec)
    return jnp.tensordot(
        jnp.conj(a), b, axes=a.ndim, precision=highest, out_sharding=P()
    )


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.Array:
    """Inner product ``sum_i vdot(x_i, y_i)`` (conjugating ``x`` if complex).

    Args:
      tree_x: a tree of arrays.
      tree_y: a tree with the same structure.

    Returns:
      A scalar.
    """
    parts = jax.tree.leaves(jax.tree.map(_leaf_vdot, tree_x, tree_y))
    return (
        functools.reduce(operator.add, parts, jnp.array(0.0))
        if parts
        else jnp.array(0.0)
    )


def tree_sum(tree: Any, associative_reduction: bool = False) -> Any:
    """Sum of every element of every leaf.

    With ``associative_reduction=True`` the per-leaf sums are added as a
    balanced tree (``jax.tree.reduce_associative``), which compiles faster for
    trees with many leaves; the result may differ in the last bits.

    Args:
      tree: a tree of arrays.
      associative_reduction: add the per-leaf sums as a balanced tree
        instead of left to right.
    """
    sums = jax.tree.map(jnp.sum, tree)
    if associative_reduction:
        return jax.tree.reduce_associative(operator.add, sums, identity=0)
    return jax.tree.reduce(operator.add, sums, initializer=0)


# Leaves combined per reduction: one fused loop per chunk. Larger chunks make
# XLA:CPU's compile time explode (one fusion holding every leaf's producers),
# smaller ones cost a kernel per leaf (``benchmarks/feature_cost.py``).
_FINITE_CHUNK = 8


def tree_all_finite(tree: Any) -> jax.Array:
    """A scalar bool: True when every element of every leaf is finite.

    Leaves of one shape (and sharding) are combined elementwise, a few at a
    time, before each reduction: XLA computes each chunk's producers in one
    fused loop (a parameter, its gradient, its new value and its optimizer
    moments are read once) with a bounded program per chunk. True for an
    empty tree.

    Args:
      tree: a tree of arrays (integer and boolean leaves count as finite).
    """
    groups: dict[str, list[jax.Array]] = {}
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            groups.setdefault(str(jax.typeof(x)), []).append(jnp.isfinite(x))
    flags = [
        jnp.all(_balanced(jnp.logical_and, group[i : i + _FINITE_CHUNK]))
        for group in groups.values()
        for i in range(0, len(group), _FINITE_CHUNK)
    ]
    return _balanced(jnp.logical_and, flags) if flags else jnp.asarray(True)


def _balanced(op: Any, xs: list[Any]) -> Any:
    """``op`` over ``xs`` as a balanced tree (shallow programs for long lists)."""
    while len(xs) > 1:
        xs = [
            op(*xs[i : i + 2]) if i + 1 < len(xs) else xs[i]
            for i in range(0, len(xs), 2)
        ]
    return xs[0]


def tree_max(tree: Any) -> jax.Array:
    """The largest element over all leaves (``-inf`` for an empty tree).

    Leaves with no elements are passed over.

    Args:
      tree: a tree of arrays.
    """
    maxes = [jnp.max(x) for x in jax.tree.leaves(tree) if jnp.size(x)]
    return functools.reduce(jnp.maximum, maxes, jnp.array(-jnp.inf))


def tree_min(tree: Any) -> jax.Array:
    """The smallest element over all leaves (``inf`` for an empty tree).

    Leaves with no elements are passed over.

    Args:
      tree: a tree of arrays.
    """
    mins = [jnp.min(x) for x in jax.tree.leaves(tree) if jnp.size(x)]
    return functools.reduce(jnp.minimum, mins, jnp.array(jnp.inf))


def tree_size(tree: Any) -> int:
    """Total number of elements.

    Args:
      tree: a tree of arrays.
    """
    return sum(jnp.size(x) for x in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
    """Complex conjugate of every leaf.

    Args:
      tree: a tree of arrays.
    """
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
    """Real part of every leaf.

    Args:
      tree: a tree of arrays.
    """
    return jax.tree.map(jnp.real, tree)


def _abs_squared(x: jax.Array) -> jax.Array:
    return jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x))


def tree_norm(
    tree: Any,
    ord: int | float | str | None = None,  # noqa: A002 - numpy's name
    squared: bool = False,
) -> jax.Array:
    """Vector norm of the whole tree, seen as one flat vector.

    ``ord`` is 2 (default, also ``None``), 1, or ``inf`` (``"inf"``,
    ``"infinity"``); ``squared=True`` returns the norm squared.

    Args:
      tree: a tree of arrays.
      ord: 2 (default, also None), 1, or infinity (``jnp.inf``, ``"inf"``,
        ``"infinity"``).
      squared: return the norm squared.
    """
    if ord is None or ord == 2:
        sq = tree_sum(jax.tree.map(_abs_squared, tree))
        return jnp.array(sq if squared else jnp.sqrt(sq))
    if ord == 1:
        value = tree_sum(jax.tree.map(jnp.abs, tree))
    elif ord == jnp.inf or ord in ("inf", "infinity"):
        value = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"ord must be one of None, 1, 2, inf; got ord={ord!r}.")
    return jnp.array(_abs_squared(value) if squared else value)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Broadcast every leaf to have leading dimensions ``shape``.

    Args:
      tree: a tree of arrays.
      shape: the leading dimensions to add (default ``()``: unchanged).
    """
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_zeros_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """A tree of zeros shaped like ``tree`` (optionally of another dtype).

    Args:
      tree: a tree of arrays.
      dtype: the leaves' dtype (default: each leaf's own).
    """
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_ones_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """A tree of ones shaped like ``tree``.

    Args:
      tree: a tree of arrays.
      dtype: the leaves' dtype (default: each leaf's own).
    """
    return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(
    tree: Any,
    fill_value: jax.typing.ArrayLike,
    dtype: jax.typing.DTypeLike | None = None,
) -> Any:
    """A tree shaped like ``tree`` filled with ``fill_value``.

    Args:
      tree: a tree of arrays.
      fill_value: the value of every element.
      dtype: the leaves' dtype (default: each leaf's own).
    """
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_clip(
    tree: Any,
    min_value: jax.typing.ArrayLike | None = None,
    max_value: jax.typing.ArrayLike | None = None,
) -> Any:
    """Clip every element to ``[min_value, max_value]`` (either may be None).

    Args:
      tree: a tree of arrays.
      min_value: the lower bound, or None for none.
      max_value: the upper bound, or None for none.
    """
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_where(condition: jax.typing.ArrayLike, tree_x: Any, tree_y: Any) -> Any:
    """Leaf-wise ``where(condition, x, y)``.

    Args:
      condition: a scalar boolean (or one broadcastable to every leaf).
      tree_x: the tree taken where ``condition`` is True.
      tree_y: the tree taken elsewhere, with ``tree_x``'s structure.
    """
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_allclose(
    a: Any,
    b: Any,
    rtol: jax.typing.ArrayLike = 1e-5,
    atol: jax.typing.ArrayLike = 1e-8,
    equal_nan: bool = False,
) -> bool:
    """True when both trees have one structure and every leaf pair is close.

    Args:
      a: a tree of arrays.
      b: another tree.
      rtol: relative tolerance, as in ``numpy.allclose``.
      atol: absolute tolerance.
    """
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    close = jax.tree.map(
        lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan),
        a,
        b,
    )
    return bool(all(bool(c) for c in jax.tree.leaves(close)))
