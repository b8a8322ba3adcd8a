"""Random trees: one PRNG key per leaf, and samples shaped like a tree."""


import inspect
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["tree_random_like", "tree_split_key_like", "tree_unwrap_random_key_data"]


def tree_split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
    """Split ``rng_key`` into one key per leaf of ``target_tree``.

    The keys are ``jax.random.split(rng_key, num_leaves)`` in leaf order.

    Args:
      rng_key: the key to split.
      target_tree: the tree whose structure the result takes.

    Returns:
      a tree of keys with the structure of ``target_tree``.
    """
    treedef = jax.tree.structure(target_tree)
    return jax.tree.unflatten(treedef, jax.random.split(rng_key, treedef.num_leaves))


def tree_random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable[..., jax.typing.ArrayLike] = jax.random.normal,
    dtype: jax.typing.DTypeLike | None = None,
) -> Any:
    """A tree of random arrays shaped like ``target_tree``.

    Leaf ``i`` is ``sampler(key_i, leaf.shape, dtype or leaf.dtype)`` with
    ``key_i`` from :func:`tree_split_key_like`; when ``sampler`` accepts
    ``out_sharding`` it gets the leaf's sharding, so the noise is laid out
    like the leaf.

    Args:
      rng_key: the key to draw from.
      target_tree: a tree of arrays.
      sampler: ``sampler(key, shape, dtype)`` (e.g. ``jax.random.normal``).
      dtype: dtype of the samples; by default each leaf's own.

    Returns:
      a tree of samples with the structure of ``target_tree``.
    """
    keys = tree_split_key_like(rng_key, target_tree)
    takes_sharding = "out_sharding" in inspect.signature(sampler).parameters

    def draw(leaf, key):
        leaf_dtype = dtype or leaf.dtype
        if takes_sharding:
            return sampler(
                key, leaf.shape, leaf_dtype, out_sharding=jax.typeof(leaf).sharding
            )
        return sampler(key, leaf.shape, leaf_dtype)

    return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
    """Replace typed PRNG keys (``jax.random.key``) by their raw ``key_data``.

    Useful to compare trees holding keys numerically; other leaves pass
    through unchanged.

    Args:
      input_tree: a tree of arrays and typed keys.

    Returns:
      the tree with every typed key array replaced by its data.
    """

    def unwrap(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
            x.dtype, jax.dtypes.prng_key
        ):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(unwrap, input_tree)
