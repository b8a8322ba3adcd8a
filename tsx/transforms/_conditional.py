"""Running a transformation only at some steps: ``conditionally_transform`` / ``_mask``.

Both wrappers count the calls to ``update`` and ask ``should_transform_fn``
whether to run the inner transformation at this one. They differ in what a
skipped step returns: the updates unchanged (``conditionally_transform``) or
zeros (``conditionally_mask``). Either way the inner state is left as it was.
"""


from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)
from tsx.validation import (
    BOOL,
    FUNCTION,
    TRANSFORMATION,
    hyperparameters,
)

__all__ = [
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "conditionally_mask",
    "conditionally_transform",
]


class ConditionFn(Protocol):
    """``fn(step, **extra_args) -> bool scalar``: run the inner transformation now?

    ``step`` is the number of earlier calls to ``update`` (int32 scalar).
    Extra arguments are passed only with ``forward_extra_args=True``.
    """

    def __call__(
        self, step: jax.typing.ArrayLike, **extra_args: Any
    ) -> jax.typing.ArrayLike: ...


class ConditionallyTransformState(NamedTuple):
    """State of :func:`conditionally_transform`: inner state, then the call count."""

    inner_state: Any
    step: jax.Array  # int32 scalar


class ConditionallyMaskState(NamedTuple):
    """State of :func:`conditionally_mask`: the call count, then the inner state."""

    step: jax.Array  # int32 scalar
    inner_state: OptState


def _conditional_update(inner, should_transform_fn, forward_extra_args, on_skip):
    """The ``update`` body of both wrappers; ``on_skip(updates)`` is a skip output."""

    def run(updates, inner_state, step, params, extra_args):
        def apply(_):
            return inner.update(updates, inner_state, params, **extra_args)

        def skip(_):
            return on_skip(updates), inner_state

        cond_kwargs = extra_args if forward_extra_args else {}
        return jax.lax.cond(
            should_transform_fn(step, **cond_kwargs), apply, skip, operand=None
        )

    return run


@hyperparameters(
    inner=TRANSFORMATION,
    should_transform_fn=FUNCTION,
    forward_extra_args=BOOL,
)
def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Apply ``inner`` only at the steps where ``should_transform_fn(step)`` holds.

    At other steps the updates pass through unchanged and ``inner``'s state
    is kept. ``step`` counts the previous calls to ``update``, from 0.

    Args:
      inner: the transformation to run conditionally.
      should_transform_fn: ``step -> bool`` scalar (see :class:`ConditionFn`).
      forward_extra_args: also pass ``update``'s extra arguments to it.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` with state
      :class:`ConditionallyTransformState`.
    """
    inner = with_extra_args_support(inner)
    run = _conditional_update(
        inner, should_transform_fn, forward_extra_args, on_skip=lambda u: u
    )

    def init_fn(params):
        return ConditionallyTransformState(
            inner_state=inner.init(params), step=jnp.zeros([], jnp.int32)
        )

    def update_fn(updates, state, params=None, **extra_args):
        new, inner_state = run(
            updates, state.inner_state, state.step, params, extra_args
        )
        return new, ConditionallyTransformState(
            inner_state=inner_state, step=numerics.safe_increment(state.step)
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


@hyperparameters(
    inner=TRANSFORMATION,
    should_transform_fn=FUNCTION,
    forward_extra_args=BOOL,
)
def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Apply ``inner`` where ``should_transform_fn(step)`` holds; else emit zeros.

    At other steps the updates are set to zero and ``inner``'s state is kept.
    ``step`` counts the previous calls to ``update``, from 0.

    Args:
      inner: the transformation to run conditionally.
      should_transform_fn: ``step -> bool`` scalar (see :class:`ConditionFn`).
      forward_extra_args: also pass ``update``'s extra arguments to it.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` with state
      :class:`ConditionallyMaskState`.
    """
    inner = with_extra_args_support(inner)
    run = _conditional_update(
        inner, should_transform_fn, forward_extra_args, on_skip=tu.tree_zeros_like
    )

    def init_fn(params):
        return ConditionallyMaskState(
            step=jnp.zeros([], jnp.int32), inner_state=inner.init(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        new, inner_state = run(
            updates, state.inner_state, state.step, params, extra_args
        )
        return new, ConditionallyMaskState(
            step=numerics.safe_increment(state.step), inner_state=inner_state
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
