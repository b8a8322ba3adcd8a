"""Composing transformations: ``chain`` and ``named_chain``."""


import collections
from typing import Any

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    takes_per_element_updates,
    with_extra_args_support,
)
from tsx.validation import (
    check_transformation,
    check_updates_like,
    describe_structure_mismatch,
    param_shaped_subtrees,
    updates_already_checked,
    updates_checked,
)

__all__ = ["chain", "named_chain"]


def _as_transformation(
    tx: Any, who: str, where: str
) -> GradientTransformationExtraArgs:
    check_transformation(who, where, tx)
    return with_extra_args_support(tx)


def _raise_if_structure_mismatch(
    updates: Any, state: Any, params: Any, err: Exception
) -> None:
    """Turn JAX's treedef dump into the first differing path, when that is the cause.

    Checked only after a member has failed: some members legitimately receive
    params of another structure (``lookahead``'s fast/slow pair).
    """
    if params is not None:
        msg = describe_structure_mismatch(updates, params)
        if msg is not None:
            raise ValueError(
                f"The structure of the updates does not match the parameters; {msg}."
            ) from err
    for sub in param_shaped_subtrees(state):
        msg = describe_structure_mismatch(updates, sub)
        if msg is None:
            return
        raise ValueError(
            f"The structure of the updates does not match the optimizer state; {msg}."
        ) from err


def _same_paths(a: Any, b: Any) -> bool:
    return (
        jax.tree.structure(a) == jax.tree.structure(b)
        or describe_structure_mismatch(a, b) is None
    )


def _check_shapes(updates: Any, state: Any, params: Any) -> None:
    """Updates must have the parameters' shapes (or the moments', without params).

    Broadcasting a ``(3, 1)`` gradient onto a ``(3,)`` parameter would
    silently turn it into ``(3, 3)``. Trees of another structure are left to
    the members (``lookahead`` receives a fast/slow pair), which report a
    mismatch by path when they fail.
    """
    if params is not None:
        if _same_paths(updates, params):
            check_updates_like(updates, params, who="update")
        return
    for sub in param_shaped_subtrees(state):
        if _same_paths(updates, sub):
            check_updates_like(updates, sub, who="update", against="optimizer state")
            return


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
    """Apply transformations one after another: ``update`` flows left to right.

    The state is the tuple of the members' states. Extra keyword arguments
    given to ``update`` reach every member that accepts them. Members may be
    tsx or Optax transformations.

    Checks, at trace time: ``update`` first checks that the updates have the
    parameters' structure and shapes (without params, those of the
    param-shaped parts of the state), and raises naming the first differing
    path. It runs its members inside :func:`tsx.validation.updates_checked`,
    and skips its own check inside that context, so a nested chain does not
    check again; ``tsx.experimental.aggregating.process`` enters it too, for
    per-element updates, which carry a batch axis the parameters lack. A
    member's ``ValueError`` or ``TypeError`` whose cause is a structure
    mismatch is re-raised as a ``ValueError`` naming the first differing
    path (the member's error is its ``__cause__``).

    Args:
      *args: the transformations, in the order they apply.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` whose state is the tuple
      of the members' states.
    """
    txs = tuple(
        _as_transformation(t, "chain", f"argument {i}") for i, t in enumerate(args)
    )
    # A chain fed per-element gradients has no parameter shapes to match.
    per_element = bool(args) and takes_per_element_updates(args[0])

    def init_fn(params):
        return tuple(t.init(params) for t in txs)

    def update_fn(updates, state, params=None, **extra_args):
        if len(state) != len(txs):
            raise ValueError(
                f"chain of {len(txs)} transformations got a state with "
                f"{len(state)} entries; was it initialised by another optimizer?"
            )
        if not (per_element or updates_already_checked()):
            _check_shapes(updates, state, params)
        new_state = []
        with updates_checked():
            for t, s in zip(txs, state, strict=True):
                try:
                    updates, s = t.update(updates, s, params, **extra_args)
                except (ValueError, TypeError) as err:
                    _raise_if_structure_mismatch(updates, s, params, err)
                    raise
                new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def named_chain(
    *args: tuple[str, GradientTransformation],
) -> GradientTransformationExtraArgs:
    """Like :func:`chain`, with the state an ``OrderedDict`` keyed by member names."""
    names = [name for name, _ in args]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain names must be unique, got {names}.")
    txs = {
        name: _as_transformation(t, "named_chain", f"member {name!r}")
        for name, t in args
    }

    def init_fn(params):
        # An OrderedDict, as Optax's: a different pytree node type than dict,
        # so an Optax checkpoint of a named_chain restores only into this.
        return collections.OrderedDict(
            (name, t.init(params)) for name, t in txs.items()
        )

    def update_fn(updates, state, params=None, **extra_args):
        new_state = collections.OrderedDict()
        for name, t in txs.items():
            updates, new_state[name] = t.update(
                updates, state[name], params, **extra_args
            )
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
