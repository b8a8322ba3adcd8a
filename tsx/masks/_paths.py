"""Parameter paths as "/"-joined strings, the common language of every mask helper.

A Linen parameter tree ``{"Dense_0": {"kernel": ..., "bias": ...}}`` has the
leaf paths ``"Dense_0/kernel"`` and ``"Dense_0/bias"``. Paths come from JAX's
key paths, so they work for ``dict``, ``FrozenDict``, lists, tuples,
NamedTuples and dataclass pytrees alike (a list index or a tuple position is
written as its decimal number, a NamedTuple field as its name), and the mask
or label trees built from them keep the exact container types of the params.
"""


from collections.abc import Callable, Sequence
from typing import Any

import jax

__all__ = ["flatten_with_paths", "key_name", "path_str", "unflatten_like"]

SEP = "/"


def key_name(key: Any) -> str:
    """One element of a key path as text (``DictKey('kernel')`` -> ``"kernel"``).

    Args:
      key: a ``DictKey``, ``SequenceKey``, ``GetAttrKey``,
        ``FlattenedIndexKey`` or a plain name.
    """
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)


def path_str(path: Any, sep: str = SEP) -> str:
    """A path as ``"a/b/c"``.

    Accepts a string (returned unchanged), a JAX key path (a tuple of
    ``DictKey``/``SequenceKey``/``GetAttrKey``/... as given by
    ``jax.tree_util.tree_map_with_path``) or a tuple of plain names (as in
    ``flax.traverse_util.flatten_dict``'s keys).

    Args:
      path: a string, a JAX key path or a tuple of names.
      sep: the separator (default ``"/"``).
    """
    if isinstance(path, str):
        return path
    if isinstance(path, Sequence):
        return sep.join(key_name(k) for k in path)
    return key_name(path)


def flatten_with_paths(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[str, Any]], Any]:
    """``([(path_str, leaf), ...], treedef)`` in ``jax.tree.leaves`` order.

    Args:
      tree: a tree.
      is_leaf: as in ``jax.tree.flatten``: True stops the flattening there.
    """
    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)
    return [(path_str(p), leaf) for p, leaf in pairs], treedef


def unflatten_like(treedef: Any, leaves: Sequence[Any]) -> Any:
    """Rebuild a tree with ``treedef`` (so FrozenDict stays FrozenDict).

    Args:
      treedef: the structure, as from :func:`flatten_with_paths`.
      leaves: the leaves, in the same order.
    """
    return jax.tree_util.tree_unflatten(treedef, list(leaves))
