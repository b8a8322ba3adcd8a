"""Dtype handling for pytrees."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["tree_cast", "tree_cast_like", "tree_dtype"]


def tree_cast(tree: Any, dtype: jax.typing.DTypeLike | None) -> Any:
    """Cast every leaf to ``dtype``; ``None`` leaves the tree unchanged."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
    """Cast each leaf of ``tree`` to the dtype of its match in ``other_tree``."""

    def one(x, y):
        return x if x is None else jnp.asarray(x).astype(jnp.asarray(y).dtype)

    return jax.tree.map(one, tree, other_tree)


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The common dtype of the leaves.

    With mixed dtypes: ``None`` raises, ``"promote"`` returns the promoted
    type, ``"highest"``/``"lowest"`` the widest/narrowest of one kind.
    """
    dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(tree)]
    if not dtypes:
        return None
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
        kinds = {jnp.dtype(d).kind for d in dtypes}
        if len(kinds) > 1:
            raise ValueError(
                f"mixed_dtype_handler={mixed_dtype_handler!r} needs dtypes of one "
                f"kind, got {sorted(set(map(str, dtypes)))}."
            )
        key = lambda d: jnp.dtype(d).itemsize  # noqa: E731
        pick = max if mixed_dtype_handler == "highest" else min
        return pick(dtypes, key=key)
    raise ValueError(
        "mixed_dtype_handler must be None, 'promote', 'highest' or 'lowest', got "
        f"{mixed_dtype_handler!r}."
    )
