"""Trees of Flax NNX ``Variable`` s seen as trees of their values.

``nnx.Optimizer`` hands ``init`` the model's ``nnx.State``, whose leaves are
``nnx.Variable`` objects (``nnx.Param``): pytree nodes with the array as
their one child. A state that mirrors the params leaf by leaf (a moment)
keeps them, so its leaves carry the params' metadata (sharding) as in
Optax. A state whose per-leaf entry is not one array of the param's shape
(a list of accumulators, a factor tuple, a compressed moment) must not sit
inside a ``Variable``: NNX requires a ``Variable``'s value to be an array
and turns any other pytree inside one into a ``State`` mapping. Such states
are built from :func:`tree_unbox` of the params.
"""

import sys
from typing import Any

import jax

__all__ = ["tree_unbox"]


def _variable_type() -> type | None:
    # No Variable can exist unless flax.nnx was imported: do not import it.
    nnx = sys.modules.get("flax.nnx")
    return None if nnx is None else nnx.Variable


def tree_unbox(tree: Any) -> Any:
    """``tree`` with each Flax NNX ``Variable`` replaced by its value.

    Trees without ``Variable`` s (Linen params, dicts of arrays) are returned
    as they are. The containers (``nnx.State``, dicts) stay.

    Args:
      tree: a pytree, e.g. ``nnx.state(model, nnx.Param)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> import tsx
      >>> state = nnx.State({"w": nnx.Param(jnp.ones(2))})
      >>> type(tsx.tree_utils.tree_unbox(state)["w"]).__name__
      'ArrayImpl'
    """
    variable = _variable_type()
    if variable is None:
        return tree

    def is_variable(x: Any) -> bool:
        return isinstance(x, variable)

    return jax.tree.map(
        lambda x: x.get_value() if is_variable(x) else x, tree, is_leaf=is_variable
    )
