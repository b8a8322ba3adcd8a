"""Mapping a function over the parameter-shaped parts of an optimizer state."""


from collections.abc import Callable
from typing import Any

import jax

__all__ = ["tree_map_params"]


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
    """Stands in for the params in ``init``: an empty pytree node.

    Tree maps over it rebuild another placeholder, so wherever an ``init``
    copies the params (moments, traces, ...) a placeholder lands in the state.
    Wrappers that restructure the params (``masked``) recognise it by the
    ``_tsx_params_placeholder`` flag and pass it through untouched.
    """

    _tsx_params_placeholder = True

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux, children
        return cls()

    def __repr__(self) -> str:
        return "ParamsPlaceholder()"


def _is_placeholder(x: Any) -> bool:
    return isinstance(x, _ParamsPlaceholder)


def tree_map_params(
    initable: Any,
    f: Callable[..., Any],
    state: Any,
    /,
    *rest: Any,
    transform_non_params: Callable[..., Any] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Apply ``f`` to every copy of the parameter tree inside an optimizer state.

    The state's param-shaped parts are found by running ``init`` on a
    placeholder: wherever the placeholder reappears in that state, the
    matching part of ``state`` is a params-like tree, and becomes
    ``jax.tree.map(f, part, *rest, is_leaf=is_leaf)``. Typical use: derive
    the state's sharding specs from the params' specs.

    Args:
      initable: a transformation (anything with ``init``) or an init function.
      f: the function mapped over the param-shaped trees (leaf-wise).
      state: a state built by ``initable``.
      *rest: trees shaped like the params, passed to ``f`` as extra arguments.
      transform_non_params: optional function applied to every other leaf of
        the state (e.g. ``lambda _: None``).
      is_leaf: passed to ``jax.tree.map``, e.g. to stop at
        :class:`tsx.MaskedNode`.

    Returns:
      the state with ``f`` applied to its params-like trees.
    """
    init = initable.init if hasattr(initable, "init") else initable
    template = init(_ParamsPlaceholder())

    def one(template_part, value):
        if _is_placeholder(template_part):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        if transform_non_params is not None:
            return transform_non_params(value)
        return value

    return jax.tree.map(one, template, state, is_leaf=_is_placeholder)
