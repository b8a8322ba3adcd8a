"""The transformation protocol: an optimizer is a pair of pure functions.

A gradient transformation is ``(init, update)``:

* ``init(params) -> state`` builds the state from the parameters;
* ``update(updates, state, params=None, **extra) -> (updates, state)`` maps
  gradients (or partially transformed updates) to new updates and a new state.

Both tuples are plain ``NamedTuple`` s with the same field names and order as
Optax's, so transformations from either library can be nested in the other's
``chain``.
"""


from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

__all__ = [
    "ArrayTree",
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "StatefulSchedule",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
    "identity",
    "init_empty_state",
    "is_extra_args_transformation",
    "set_to_zero",
    "stateless",
    "stateless_with_tree_map",
    "takes_per_element_updates",
    "with_extra_args_support",
]

ArrayTree = Any
Params = Any
Updates = Any
OptState = Any
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]
ScalarOrSchedule = float | jax.Array | Schedule


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule that carries a state (see ``inject_stateful_hyperparams``)."""

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> jax.typing.ArrayLike: ...


class TransformInitFn(Protocol):
    """``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None) -> (updates, state)``."""

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """``update`` that also accepts keyword extra arguments (``value=``, ...)."""

    def __call__(
        self,
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``.

    Attributes:
      init: ``init(params) -> state``.
      update: ``update(updates, state, params=None) -> (new_updates, new_state)``.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A transformation whose ``update`` accepts keyword extra arguments.

    Chains forward every extra argument (for example ``value=`` for line
    searches, or ``grad=``) to each member that accepts extra arguments.
    """

    update: TransformUpdateExtraArgsFn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps nothing between steps."""


def init_empty_state(params: Params) -> EmptyState:
    """An ``init`` function for stateless transformations.

    Args:
      params: ignored.

    Returns:
      :class:`EmptyState`.
    """
    del params
    return EmptyState()


def is_extra_args_transformation(tx: Any) -> bool:
    """Whether ``tx.update`` takes extra keyword arguments.

    Recognises tsx's class and any class of the same name (Optax's), so the
    two libraries' transformations compose without importing each other.

    Args:
      tx: any object.
    """
    return isinstance(tx, GradientTransformationExtraArgs) or any(
        cls.__name__ == "GradientTransformationExtraArgs" for cls in type(tx).__mro__
    )


def takes_per_element_updates(tx: Any) -> bool:
    """Whether ``tx.update`` is fed per-element gradients (an ``Aggregator``).

    Such updates carry a leading batch axis the parameters do not have (see
    ``tsx.experimental.aggregating``). Recognises tsx's and Optax's class by
    name, as :func:`is_extra_args_transformation` does.
    """
    return any(cls.__name__ == "Aggregator" for cls in type(tx).__mro__)


def with_extra_args_support(
    tx: GradientTransformation,
) -> GradientTransformationExtraArgs:
    """Wrap ``tx`` so that its ``update`` accepts (and ignores) extra arguments.

    Args:
      tx: a transformation, with or without extra-argument support.

    Returns:
      A :class:`GradientTransformationExtraArgs` with ``tx``'s own functions
      if its ``update`` takes ``**extra_args``, else with an ``update`` that
      accepts and ignores them.
    """
    if is_extra_args_transformation(tx):
        return GradientTransformationExtraArgs(tx.init, tx.update)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update_fn)


def identity() -> GradientTransformation:
    """Leaves updates unchanged; keeps no state."""

    def update_fn(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
    """Replaces every update by zeros (freezes parameters when it ends a chain)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless(
    f: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    """A transformation from a function ``f(updates, params) -> updates``.

    Args:
      f: a function ``(updates, params) -> new updates``; ``params`` may be None.

    Returns:
      A :class:`GradientTransformation` with :class:`EmptyState`.
    """

    def update_fn(updates, state, params=None):
        del state
        return f(updates, params), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(
    f: Callable[[jax.Array, jax.Array | None], jax.Array],
) -> GradientTransformation:
    """A transformation applying ``f(update_leaf, param_leaf)`` to every leaf.

    Args:
      f: a function ``(update leaf, param leaf or None) -> new update leaf``,
        mapped over the tree.

    Returns:
      A :class:`GradientTransformation` with :class:`EmptyState`.
    """

    def update_fn(updates, state, params=None):
        del state
        if params is None:
            new = jax.tree.map(lambda g: f(g, None), updates)
        else:
            new = jax.tree.map(f, updates, params)
        return new, EmptyState()

    return GradientTransformation(init_empty_state, update_fn)
