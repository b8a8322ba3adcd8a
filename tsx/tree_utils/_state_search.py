"""Finding and replacing named values (``count``, ``learning_rate`` ...) in states.

A key names a dict key, a NamedTuple field, or a NamedTuple class (the whole
tuple). Paths are tuples of JAX key entries, except that a NamedTuple field
appears as a :class:`NamedTupleKey` carrying the tuple's class name, so two
states with identically named fields (e.g. two ``count`` s in a chain) can be
told apart by a ``filtering(path, value)`` predicate.
"""


import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import jax

__all__ = ["NamedTupleKey", "tree_get", "tree_get_all_with_path", "tree_set"]


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """Path entry for a field of a NamedTuple: the tuple's class name and field.

    ``str(NamedTupleKey("ScaleByAdamState", "mu"))`` is
    ``"ScaleByAdamState.mu"``.

    Attributes:
      tuple_name: the NamedTuple's class name.
      name: the field name.
    """

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


KeyPath = tuple[Any, ...]
Filter = Callable[[KeyPath, Any], bool]


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _has_any_key(node: Any, keys: Iterable[Any]) -> bool:
    """Whether ``node`` is a dict holding, or a NamedTuple named or having, a key."""
    if _is_named_tuple(node):
        return any(k in node._fields or k == type(node).__name__ for k in keys)
    if isinstance(node, dict):
        return any(k in node for k in keys)
    return False


def _leaves_with_path(tree: Any, stop: Callable[[Any], bool]) -> list[tuple]:
    """``(path, node)`` for the leaves of ``tree`` and the nodes where ``stop``.

    Like ``jax.tree_util.tree_leaves_with_path``, but descending into
    NamedTuple fields with :class:`NamedTupleKey` entries.
    """
    found = []
    flat, _ = jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=lambda x: stop(x) or _is_named_tuple(x)
    )
    for path, node in flat:
        if stop(node) or not _is_named_tuple(node):
            found.append((path, node))
            continue
        for field in node._fields:
            entry = NamedTupleKey(type(node).__name__, field)
            for sub_path, leaf in _leaves_with_path(getattr(node, field), stop):
                found.append(((*path, entry, *sub_path), leaf))
    return found


def _children_with_path(path: KeyPath, node: Any) -> list[tuple]:
    if _is_named_tuple(node):
        name = type(node).__name__
        return [
            ((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields
        ]
    if isinstance(node, dict):
        return [((*path, jax.tree_util.DictKey(k)), v) for k, v in node.items()]
    raise ValueError(f"Subtree must be a dict or a NamedTuple. Got {type(node)}")


def _value_at_key(path: KeyPath, node: Any, key: Any) -> tuple[KeyPath, Any]:
    # A NamedTuple whose class is the key is itself the value.
    if _is_named_tuple(node):
        if key == type(node).__name__:
            return path, node
        return (*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)
    return (*path, jax.tree_util.DictKey(key)), node[key]


def _find_all(tree: Any, key: Any) -> list[tuple[KeyPath, Any]]:
    def holds_key(node):
        return _has_any_key(node, (key,))

    holders = [(p, n) for p, n in _leaves_with_path(tree, holds_key) if holds_key(n)]
    found = [_value_at_key(p, n, key) for p, n in holders]
    # Then look deeper: values may hold the key again (nested states).
    for path, node in holders:
        for child_path, child in _children_with_path(path, node):
            found += [((*child_path, *p), v) for p, v in _find_all(child, key)]
    return found


def tree_get_all_with_path(
    tree: Any, key: Any, filtering: Filter | None = None
) -> list[tuple[KeyPath, Any]]:
    """Every ``(path, value)`` in ``tree`` whose dict key, field or class is ``key``.

    Matches nearest the root come first, then the matches nested inside
    them. ``jax.tree_util.keystr(path)`` renders a path.

    Args:
      tree: the tree to search (typically an optimizer state).
      key: a dict key, a NamedTuple field name or a NamedTuple class name.
      filtering: optional ``filtering(path, value) -> bool`` keeping only some
        matches.

    Returns:
      the list of ``(path, value)`` pairs.
    """
    found = _find_all(tree, key)
    if filtering:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(
    tree: Any, key: Any, default: Any = None, filtering: Filter | None = None
) -> Any:
    """The single value of ``key`` in ``tree`` (``default`` if there is none).

    Args:
      tree: the tree to search.
      key: a dict key, a NamedTuple field name or a NamedTuple class name.
      default: returned when nothing matches.
      filtering: optional ``filtering(path, value) -> bool`` to disambiguate.

    Returns:
      the value.

    Raises:
      KeyError: more than one value matches.
    """
    found = tree_get_all_with_path(tree, key, filtering=filtering)
    if len(found) > 1:
        raise KeyError(f"Found multiple values for '{key}' in {tree}.")
    return found[0][1] if found else default


def _entry_name(entry: Any) -> Any:
    """The dict key, field name or index that a path entry stands for."""
    if isinstance(entry, jax.tree_util.DictKey):
        if isinstance(entry.key, str | int):
            return entry.key
        raise KeyError("Hashable keys not supported")
    if isinstance(entry, jax.tree_util.FlattenedIndexKey):
        return entry.key
    if isinstance(entry, jax.tree_util.GetAttrKey | NamedTupleKey):
        return entry.name
    if isinstance(entry, jax.tree_util.SequenceKey):
        return entry.idx
    raise KeyError(f"Tree key '{entry}' of type '{type(entry)}' not valid.")


def tree_set(tree: Any, filtering: Filter | None = None, /, **kwargs: Any) -> Any:
    """A copy of ``tree`` with the values of the given keys replaced.

    ``tree_set(state, count=0)`` sets every ``count`` field (or dict entry);
    a NamedTuple class name as key replaces the whole tuple. With
    ``filtering``, only matches for which ``filtering(path, value)`` holds
    are replaced.

    Args:
      tree: the tree (typically an optimizer state).
      filtering: optional ``filtering(path, value) -> bool``.
      **kwargs: the keys and their new values.

    Returns:
      the new tree.

    Raises:
      KeyError: some key has no (filtered) match in ``tree``.
    """
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            if filtering:
                raise KeyError(
                    f"Found no values matching '{key}' given the filtering "
                    f"operation in {tree}"
                )
            raise KeyError(f"Found no values matching '{key}' in {tree}")

    keys = tuple(kwargs)

    def holds_key(node):
        return _has_any_key(node, keys)

    def accepts(path, value):
        return filtering is None or filtering(path, value)

    def replace(path, node):
        if not holds_key(node):
            return node
        if (
            _is_named_tuple(node)
            and type(node).__name__ in kwargs
            and accepts(path, node)
        ):
            return kwargs[type(node).__name__]
        children = {}
        for child_path, child in _children_with_path(path, node):
            name = _entry_name(child_path[-1])
            if name in kwargs and accepts(child_path, child):
                children[name] = kwargs[name]
            elif isinstance(child, dict | list | tuple):
                children[name] = replace(child_path, child)
            else:
                children[name] = child
        if _is_named_tuple(node):
            return node._replace(**children)
        return children

    _, treedef = jax.tree.flatten(tree, is_leaf=holds_key)
    parts = _leaves_with_path(tree, holds_key)
    return treedef.unflatten(replace(p, n) for p, n in parts)
