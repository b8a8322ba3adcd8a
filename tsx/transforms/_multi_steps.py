"""Gradient accumulation: ``MultiSteps`` runs the inner optimizer every k mini-steps.

Over ``k`` consecutive calls the gradients are averaged (or summed); the
first ``k - 1`` calls return zero updates, and the ``k``-th feeds the average
to the inner optimizer and returns its update. This emulates a batch ``k``
times larger. ``k`` may follow a schedule of the number of optimizer steps
taken, to grow the batch during training.
"""


import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    ArrayTree,
    GradientTransformation,
    GradientTransformationExtraArgs,
    Params,
    Updates,
    with_extra_args_support,
)
from tsx.sharding import zeros_of_type
from tsx.validation import (
    BOOL,
    DTYPE,
    FUNCTION,
    POSITIVE_INT,
    TRANSFORMATION,
    any_of,
    check_updates_like,
    hyperparameters,
    optional,
)

__all__ = [
    "MultiSteps",
    "MultiStepsState",
    "ShouldSkipUpdateFunction",
    "skip_large_updates",
    "skip_not_finite",
]


class ShouldSkipUpdateFunction(Protocol):
    """``fn(updates, gradient_step, params) -> (should_skip, info)``.

    ``should_skip`` is a boolean scalar array: True rejects this mini-step (as
    if it never happened). ``info`` is any tree; it is stored in
    ``MultiStepsState.skip_state`` for monitoring.
    """

    def __call__(
        self,
        updates: Updates,
        gradient_step: jax.typing.ArrayLike,
        params: Params | None,
    ) -> tuple[jax.typing.ArrayLike, ArrayTree]: ...


def skip_not_finite(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Params | None,
) -> tuple[jax.Array, ArrayTree]:
    """Skip a mini-step whose updates hold any ``inf`` or ``NaN``.

    Returns ``(should_skip, {"should_skip": ..., "num_not_finite": n})`` with
    ``n`` the number of non-finite elements over all leaves.

    Args:
      updates: the mini-step's updates.
      gradient_step: the mini-step's index (unused).
      params: the params (unused).
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(u)) for u in jax.tree.leaves(updates)]
    num_not_finite = jnp.sum(jnp.array(counts))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Params | None,
    max_squared_norm: jax.typing.ArrayLike,
) -> tuple[jax.Array, ArrayTree]:
    """Skip a mini-step unless ``||updates||^2 < max_squared_norm``.

    A NaN norm also skips. Bind ``max_squared_norm`` with
    :func:`functools.partial` to get a :class:`ShouldSkipUpdateFunction`.
    Returns ``(should_skip, {"should_skip": ..., "norm_squared": ...})``.

    Args:
      updates: the mini-step's updates.
      gradient_step: the mini-step's index (unused).
      params: the params (unused).
      max_squared_norm: the threshold on the squared global norm.
    """
    del gradient_step, params
    norm_sq = tu.tree_norm(updates, squared=True)
    # Written as "not below" so that a NaN norm is skipped too.
    should_skip = jnp.logical_not(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


class MultiStepsState(NamedTuple):
    """State of :class:`MultiSteps`.

    Attributes:
      mini_step: calls since the last inner step (0 right after one).
      gradient_step: inner optimizer steps taken.
      inner_opt_state: the inner optimizer's state.
      acc_grads: the running mean (or sum) of this cycle's gradients.
      skip_state: what ``should_skip_update_fn`` last returned as info.
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: ArrayTree = ()


def _never_skip(*args: Any, **kwargs: Any) -> tuple[jax.Array, ArrayTree]:
    del args, kwargs
    return jnp.array(False, dtype=jnp.bool_), ()


class MultiSteps:
    """Accumulate gradients over ``k`` calls, then take one inner optimizer step.

    On calls ``1 .. k-1`` of a cycle the returned updates are zeros and the
    gradients are folded into ``acc_grads``; on call ``k`` the inner optimizer
    receives the mean (``use_grad_mean=True``, kept with Welford's update
    ``a <- a + (g - a) / (n + 1)``) or the sum of the cycle's gradients, and its
    update is returned. ``k = every_k_schedule(gradient_step)`` when a
    function is given.

    Use ``.init`` / ``.update`` directly, or :meth:`gradient_transformation`
    for a plain :class:`~tsx.GradientTransformation`.
    """

    @hyperparameters(
        opt=TRANSFORMATION,
        every_k_schedule=any_of(POSITIVE_INT, FUNCTION),
        use_grad_mean=BOOL,
        should_skip_update_fn=optional(FUNCTION),
        accumulator_dtype=DTYPE,
    )
    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: jax.typing.DTypeLike = jnp.float32,
    ):
        """Build the wrapper.

        Args:
          opt: the inner optimizer.
          every_k_schedule: the number of mini-steps per inner step: an integer
            >= 1, or a function of the inner step count returning one.
          use_grad_mean: average the accumulated gradients (True) or sum them.
          should_skip_update_fn: decides whether to reject a mini-step (see
            :func:`skip_not_finite`, :func:`skip_large_updates`); a rejected
            mini-step changes nothing but ``skip_state``.
          accumulator_dtype: the dtype of ``acc_grads`` (``None``: the params').
        """
        self._opt = with_extra_args_support(opt)
        if callable(every_k_schedule):
            self._every_k_schedule = every_k_schedule
        else:
            k = int(every_k_schedule)
            self._every_k_schedule = lambda step: k
        self._use_grad_mean = use_grad_mean
        self._accumulator_dtype = (
            None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)
        )
        self._should_skip_update_fn = (
            _never_skip if should_skip_update_fn is None else should_skip_update_fn
        )

    @property
    def inner_opt(self) -> GradientTransformationExtraArgs:
        """The wrapped optimizer (with extra-argument support)."""
        return self._opt

    def _accumulate(self, grads, acc, n_acc):
        if self._use_grad_mean:
            return tu.tree_running_mean(acc, grads, n_acc)
        return jax.tree.map(lambda g, a: (g + a).astype(a.dtype), grads, acc)

    def _cast_acc(self, x):
        return (
            x if self._accumulator_dtype is None else x.astype(self._accumulator_dtype)
        )

    def init(self, params: Params) -> MultiStepsState:
        """The initial state: zero counters and zero accumulated gradients."""
        gradient_step = jnp.zeros([], dtype=jnp.int32)
        _, skip_state = self._should_skip_update_fn(
            tu.tree_zeros_like(params), gradient_step, params
        )
        return MultiStepsState(
            mini_step=jnp.zeros([], dtype=jnp.int32),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=tu.tree_zeros_like(params, dtype=self._accumulator_dtype),
            skip_state=skip_state,
        )

    def update(
        self,
        updates: Updates,
        state: MultiStepsState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, MultiStepsState]:
        """Fold ``updates`` in; every ``k``-th call, return the inner step's update."""
        check_updates_like(
            updates, state.acc_grads, who="MultiSteps.update", against="accumulator"
        )
        k_steps = self._every_k_schedule(state.gradient_step)
        should_skip, skip_state = self._should_skip_update_fn(
            updates, state.gradient_step, params
        )
        should_skip = jnp.asarray(should_skip)
        if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
            raise ValueError(
                "should_skip_update_fn must return a boolean scalar array first; "
                f"got dtype {should_skip.dtype} and shape {should_skip.shape}."
            )

        def do_update(updates, state, params):
            acc = self._accumulate(updates, state.acc_grads, state.mini_step)
            # The inner step is computed every call and kept only when the
            # cycle ends, so the function has one trace for jit.
            inner_updates, inner_state = self._opt.update(
                tu.tree_cast_like(acc, updates),
                state.inner_opt_state,
                params=params,
                **extra_args,
            )
            emit = state.mini_step == (k_steps - 1)
            new_state = MultiStepsState(
                mini_step=numerics.safe_increment(state.mini_step) % k_steps,
                gradient_step=emit * numerics.safe_increment(state.gradient_step)
                + (1 - emit) * state.gradient_step,
                inner_opt_state=tu.tree_cast_like(
                    tu.tree_where(emit, inner_state, state.inner_opt_state),
                    state.inner_opt_state,
                ),
                acc_grads=jax.tree.map(lambda a: self._cast_acc((1 - emit) * a), acc),
                skip_state=skip_state,
            )
            return jax.tree.map(lambda u: emit * u, inner_updates), new_state

        def skip_update(updates, state, params):
            # Zeros with exactly the types do_update returns (lax.cond needs
            # matching branches), found without running the inner update.
            static = {
                k: v for k, v in extra_args.items() if not isinstance(v, jax.Array)
            }
            dynamic = {k: v for k, v in extra_args.items() if isinstance(v, jax.Array)}
            shapes, _ = jax.eval_shape(
                functools.partial(self._opt.update, **static),
                tu.tree_cast_like(state.acc_grads, updates),
                state.inner_opt_state,
                params=params,
                **dynamic,
            )
            zeros = jax.tree.map(zeros_of_type, shapes)
            return zeros, state._replace(skip_state=skip_state)

        return jax.lax.cond(should_skip, skip_update, do_update, updates, state, params)

    def has_updated(self, state: MultiStepsState | ArrayTree) -> jax.Array:
        """Whether the last call to ``update`` took an inner optimizer step."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This wrapper as a plain ``(init, update)`` transformation."""
        return GradientTransformation(init=self.init, update=self.update)
