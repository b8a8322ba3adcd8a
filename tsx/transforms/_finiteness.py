"""Guarding against non-finite updates: ``apply_if_finite`` and ``zero_nans``."""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)
from tsx.validation import (
    TRANSFORMATION,
    hyperparameters,
    integer,
)

__all__ = ["ApplyIfFiniteState", "ZeroNansState", "apply_if_finite", "zero_nans"]


class ApplyIfFiniteState(NamedTuple):
    """State of :func:`apply_if_finite`.

    Attributes:
      notfinite_count: consecutive steps with a non-finite update (reset to 0
        by a finite one).
      last_finite: whether the last update was finite.
      total_notfinite: steps with a non-finite update since ``init``.
      inner_state: the inner transformation's state.
    """

    notfinite_count: Any
    last_finite: Any
    total_notfinite: Any
    inner_state: Any


@hyperparameters(
    inner=TRANSFORMATION,
    max_consecutive_errors=integer(0),
)
def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformationExtraArgs:
    """Skip steps whose updates contain ``inf`` or ``NaN``, up to a limit.

    When any element of the incoming updates is not finite, ``inner`` is not
    called: the step returns zeros and ``inner``'s state is kept as it was.
    After more than ``max_consecutive_errors`` such steps in a row the
    wrapper gives up and applies ``inner`` anyway, so a persistent problem is
    not hidden forever.

    Args:
      inner: the transformation to protect.
      max_consecutive_errors: how many consecutive non-finite steps to skip
        (>= 0).

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` with state
      :class:`ApplyIfFiniteState`.
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True, jnp.bool_),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        finite = tu.tree_all_finite(updates)
        notfinite_count = jnp.where(
            finite,
            jnp.zeros([], jnp.int32),
            numerics.safe_increment(state.notfinite_count),
        )
        inner_state = state.inner_state

        def apply(_):
            return inner.update(updates, inner_state, params, **extra_args)

        def skip(_):
            return tu.tree_zeros_like(updates), inner_state

        new_updates, new_inner = jax.lax.cond(
            jnp.logical_or(finite, notfinite_count > max_consecutive_errors),
            apply,
            skip,
            operand=None,
        )
        total = jnp.where(
            finite,
            state.total_notfinite,
            numerics.safe_increment(state.total_notfinite),
        )
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=total,
            inner_state=new_inner,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


class ZeroNansState(NamedTuple):
    """State of :func:`zero_nans`: per leaf, whether the last update had a NaN."""

    found_nan: Any


def zero_nans() -> GradientTransformation:
    """Replace every ``NaN`` in the updates by ``0``.

    The state records, for each leaf, whether a NaN was found at the last
    step; it is for monitoring and does not affect the updates.

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`ZeroNansState`.
    """

    def init_fn(params):
        return ZeroNansState(
            found_nan=jax.tree.map(lambda _: jnp.array(False, jnp.bool_), params)
        )

    def update_fn(updates, state, params=None):
        del state, params
        found = jax.tree.map(lambda u: jnp.any(jnp.isnan(u)), updates)
        new = jax.tree.map(
            lambda u: jnp.where(jnp.isnan(u), jnp.zeros_like(u), u), updates
        )
        return new, ZeroNansState(found_nan=found)

    return GradientTransformation(init_fn, update_fn)
