"""Backtracking line search for the sufficient-decrease (Armijo) condition.

Given parameters :math:`w`, a direction :math:`u` and the gradient
:math:`\\nabla f(w)`, find a step :math:`\\eta` with

.. math::

   f(w + \\eta u) \\le (1 + \\delta) f(w)
     + c\\,\\eta\\,\\mathrm{Re}\\langle u, \\nabla f(w)\\rangle + \\epsilon,

(``c = slope_rtol``, ``delta = rtol``, ``epsilon = atol``) by starting from
``min(increase_factor * previous_eta, max_learning_rate)`` and multiplying by
``decrease_factor`` until the condition holds or ``max_backtracking_steps``
reductions were tried. Armijo (1966), "Minimization of functions having
Lipschitz continuous first partial derivatives", Pacific J. Math.; the
warm-started variant follows Vaswani et al. (2019), "Painless Stochastic
Gradient", arXiv:1905.09997.
"""


import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs, Params, Updates
from tsx.optimizers._linesearch_utils import (
    split_fn_kwargs,
    strong_scalar,
    val_dtype,
)
from tsx.validation import (
    BOOL,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    hyperparameters,
    integer,
    real,
)

__all__ = ["ScaleByBacktrackingLinesearchState", "scale_by_backtracking_linesearch"]


class BacktrackingLinesearchInfo(NamedTuple):
    """Diagnostics of the last search.

    ``num_linesearch_steps``: evaluations made; ``decrease_error``: how much
    the accepted step violates the condition (0 when it holds).
    """

    num_linesearch_steps: jax.typing.ArrayLike  # int
    decrease_error: jax.typing.ArrayLike  # float


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of :func:`scale_by_backtracking_linesearch`.

    ``learning_rate``: the accepted step; ``value``: the objective there;
    ``grad``: its gradient there when ``store_grad=True``, else ``None`` (reuse
    both with :func:`~tsx.value_and_grad_from_state`); ``info``: diagnostics.
    """

    learning_rate: jax.typing.ArrayLike
    value: jax.typing.ArrayLike
    grad: Updates | None
    info: BacktrackingLinesearchInfo


class _Search(NamedTuple):
    learning_rate: jax.Array
    new_value: jax.Array
    new_grad: Updates
    decrease_error: jax.Array
    iter_num: jax.Array


@hyperparameters(
    max_backtracking_steps=integer(0),
    slope_rtol=PROBABILITY,
    decrease_factor=real(0, 1, low_open=True),
    # math.inf: start every search from max_learning_rate.
    increase_factor=real(0.0, low_open=True, allow_inf=True),
    max_learning_rate=POSITIVE,
    atol=NON_NEGATIVE,
    rtol=NON_NEGATIVE,
    store_grad=BOOL,
    verbose=BOOL,
)
def scale_by_backtracking_linesearch(
    max_backtracking_steps: jax.typing.ArrayLike,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    atol: jax.typing.ArrayLike = 0.0,
    rtol: jax.typing.ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    """Scale the updates by a step found by backtracking (Armijo condition).

    ``update(updates, state, params, *, value, grad, value_fn, **kwargs)``:
    ``value`` and ``grad`` are the objective and its gradient at ``params``,
    ``value_fn(params, **kwargs)`` evaluates the objective; every other keyword
    must be a parameter of ``value_fn`` (it is passed on to it). The updates
    must be a descent direction (``<u, grad> < 0``), e.g. ``-grad``.

    Args:
      max_backtracking_steps: the most reductions of the step per search.
      slope_rtol: ``c`` in the condition, in [0, 1).
      decrease_factor: step multiplier after a failed trial, in (0, 1).
      increase_factor: the search starts from ``increase_factor`` times the
        last accepted step (``math.inf``: always from ``max_learning_rate``).
      max_learning_rate: the largest step tried.
      atol: absolute tolerance ``epsilon`` of the condition.
      rtol: relative tolerance ``delta`` on ``f(w)``.
      store_grad: also compute the gradient at the accepted point (then
        :func:`~tsx.value_and_grad_from_state` can reuse it).
      verbose: print diagnostics when the search fails.
    """

    def init_fn(params: Params) -> ScaleByBacktrackingLinesearchState:
        dtype = val_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.array(1.0, dtype=dtype),
            value=jnp.array(jnp.inf, dtype=dtype),
            grad=tu.tree_zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=strong_scalar(0),
                decrease_error=jnp.array(jnp.inf, dtype=dtype),
            ),
        )

    def excess(step, slope, value, new_value):
        # Positive part of the violation; NaN (left the domain) counts as inf.
        err = new_value - (1.0 + rtol) * value - step * slope_rtol * slope
        err = jnp.where(jnp.isnan(err), jnp.inf, err)
        return jnp.maximum(err, 0.0)

    def update_fn(
        updates: Updates,
        state: ScaleByBacktrackingLinesearchState,
        params: Params,
        *,
        value: jax.typing.ArrayLike,
        grad: Updates,
        value_fn: Callable[..., jax.typing.ArrayLike],
        **extra_args: Any,
    ) -> tuple[Updates, ScaleByBacktrackingLinesearchState]:
        fn_kwargs = split_fn_kwargs(
            value_fn, extra_args, "scale_by_backtracking_linesearch"
        )
        objective = functools.partial(value_fn, **fn_kwargs)
        # d/d eta f(w + eta u) at eta = 0.
        slope = tu.tree_real(tu.tree_vdot(updates, tu.tree_conj(grad)))

        def keep_going(s: _Search):
            return (~(s.decrease_error <= atol)) & (
                s.iter_num <= max_backtracking_steps
            )

        def trial(s: _Search) -> _Search:
            # The first trial uses the initial guess as is.
            lr = jnp.where(
                s.iter_num > 0, decrease_factor * s.learning_rate, s.learning_rate
            )
            candidate = tu.tree_add_scale(params, lr, updates)
            if store_grad:
                new_value, pullback = jax.vjp(objective, candidate)
                err = excess(lr, slope, value, new_value)
                # The gradient is only needed at the point the search stops on.
                new_grad = jax.lax.cond(
                    (err <= atol) | (s.iter_num == max_backtracking_steps),
                    lambda: pullback(jnp.ones_like(new_value))[0],
                    lambda: s.new_grad,
                )
            else:
                new_value = objective(candidate)
                err = excess(lr, slope, value, new_value)
                new_grad = s.new_grad
            out = _Search(lr, new_value, new_grad, err, s.iter_num + 1)
            return tu.tree_cast_like(out, s)

        start = _Search(
            learning_rate=jnp.minimum(
                increase_factor * state.learning_rate, max_learning_rate
            ),
            new_value=value,
            new_grad=tu.tree_zeros_like(params),
            decrease_error=jnp.array(jnp.inf),
            iter_num=jnp.asarray(0),
        )
        found = jax.lax.while_loop(keep_going, trial, start)
        # No finite trial at all: do not move rather than step into inf/NaN.
        lr = jnp.where(jnp.isinf(found.decrease_error), 0.0, found.learning_rate)
        if verbose:
            jax.lax.cond(
                found.decrease_error > atol,
                lambda: jax.debug.print(
                    "tsx.scale_by_backtracking_linesearch: no step with sufficient "
                    "decrease found (value {v}, slope {sl}, step {st}, decrease "
                    "error {e}); a step of 0 is used if that error is inf.",
                    v=value,
                    sl=slope,
                    st=found.learning_rate,
                    e=found.decrease_error,
                    ordered=True,
                ),
                lambda: None,
            )
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=lr,
            value=found.new_value,
            grad=found.new_grad if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=found.iter_num,
                decrease_error=found.decrease_error,
            ),
        )
        return tu.tree_scale(lr, updates), tu.tree_cast_like(new_state, state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
