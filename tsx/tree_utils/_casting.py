"""Dtype handling for pytrees."""


import functools
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["tree_cast", "tree_cast_like", "tree_dtype"]


def tree_cast(tree: Any, dtype: jax.typing.DTypeLike | None) -> Any:
    """Cast every leaf to ``dtype``; ``None`` leaves the tree unchanged.

    Args:
      tree: a tree of arrays.
      dtype: the target dtype, or None to leave the tree as it is.
    """
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
    """Cast each leaf of ``tree`` to the dtype of its match in ``other_tree``.

    Args:
      tree: a tree of arrays.
      other_tree: a tree with the same structure whose dtypes are taken.
    """

    def one(x, y):
        return x if x is None else jnp.asarray(x).astype(jnp.asarray(y).dtype)

    return jax.tree.map(one, tree, other_tree)


def _extreme_dtype(a: Any, b: Any, highest: bool, handler: str) -> Any:
    """The higher (or lower) of two dtypes in JAX's promotion order."""
    joined = jnp.promote_types(a, b)
    if joined not in (jnp.dtype(a), jnp.dtype(b)):
        raise ValueError(
            f"tree_dtype(mixed_dtype_handler={handler!r}): {a} and {b} cannot be "
            "ordered (neither promotes to the other); use 'promote'."
        )
    other = b if joined == jnp.dtype(a) else a
    return joined if highest else jnp.dtype(other)


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The common dtype of the leaves.

    With mixed dtypes: ``None`` raises, ``"promote"`` returns the promoted
    type, ``"highest"``/``"lowest"`` the highest/lowest dtype in JAX's
    promotion order (``a <= b`` when ``a`` promotes to ``b``: bfloat16 and
    float16 are both below float32, but not comparable with each other). An
    empty tree has JAX's default float dtype.

    Args:
      tree: a tree of arrays.
      mixed_dtype_handler: what to do when leaves differ: None raises,
        ``"promote"`` returns the promoted dtype, ``"highest"`` / ``"lowest"``
        the widest / narrowest.
    """
    dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(tree)]
    if not dtypes:
        return jnp.asarray([]).dtype
    first = dtypes[0]
    if all(d == first for d in dtypes):
        return first
    if mixed_dtype_handler is None:
        raise ValueError(
            f"The tree has leaves of several dtypes {sorted(set(map(str, dtypes)))}; "
            "pass mixed_dtype_handler='promote', 'highest' or 'lowest'."
        )
    if mixed_dtype_handler == "promote":
        return jnp.result_type(*dtypes)
    if mixed_dtype_handler in ("highest", "lowest"):
        highest = mixed_dtype_handler == "highest"
        return functools.reduce(
            lambda a, b: _extreme_dtype(a, b, highest, mixed_dtype_handler), dtypes
        )
    raise ValueError(
        "mixed_dtype_handler must be None, 'promote', 'highest' or 'lowest', got "
        f"{mixed_dtype_handler!r}."
    )
