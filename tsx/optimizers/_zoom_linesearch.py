"""Zoom line search for the strong Wolfe conditions.

Algorithms 3.5 (bracketing) and 3.6 (zoom) of Nocedal & Wright (2006),
"Numerical Optimization", 2nd ed., with the approximate-Wolfe relaxation of
Hager & Zhang (2006), "Algorithm 851: CG_DESCENT", ACM TOMS 32(1).

Along :math:`\\phi(\\eta) = f(w + \\eta u)` a step is accepted when

.. math::

   \\phi(\\eta) \\le \\phi(0) + c_1 \\eta \\phi'(0) + \\epsilon
   \\quad\\text{(sufficient decrease)},\\qquad
   |\\phi'(\\eta)| \\le c_2 |\\phi'(0)| + \\epsilon
   \\quad\\text{(small curvature)}.

Near a minimum the first test cannot resolve differences below
:math:`\\sqrt{\\varepsilon_{mach}}`; once
:math:`\\phi(\\eta) \\le \\phi(0) + c_3|\\phi(0)|` the search also accepts
Hager and Zhang's :math:`\\phi'(\\eta) \\le (2c_1 - 1)\\phi'(0)` in its place.

Phase 1 grows the step by ``increase_factor`` from an initial guess until it
brackets an acceptable step; phase 2 shrinks the bracket, trying the minimiser
of a cubic interpolant, else of a quadratic one, else the midpoint. If no step
passes both tests within ``max_linesearch_steps`` evaluations, the best step
that passed the decrease test is taken (``safe`` step), else the last one.
"""


import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
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
    POSITIVE_INT,
    PROBABILITY,
    choice,
    hyperparameters,
    optional,
    real,
)

__all__ = [
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_zoom_linesearch",
]

_GUESS_STRATEGIES = ("one", "keep")


class ZoomLinesearchInfo(NamedTuple):
    """Diagnostics of the last search.

    ``num_linesearch_steps``: objective evaluations made;
    ``decrease_error`` / ``curvature_error``: by how much the accepted step
    violates the decrease / curvature test (0 when it passes). A positive
    curvature error is benign (often a too small ``max_learning_rate``); a
    positive decrease error means the objective may not decrease.
    """

    num_linesearch_steps: jax.typing.ArrayLike  # int
    decrease_error: jax.typing.ArrayLike  # float
    curvature_error: jax.typing.ArrayLike  # float


class ScaleByZoomLinesearchState(NamedTuple):
    """State of :func:`scale_by_zoom_linesearch`.

    ``learning_rate``: the accepted step; ``value`` and ``grad``: the objective
    and its gradient there (reuse them with
    :func:`~tsx.value_and_grad_from_state`); ``info``: diagnostics.
    """

    learning_rate: jax.typing.ArrayLike
    value: jax.typing.ArrayLike
    grad: Updates
    info: ZoomLinesearchInfo


class _Search(NamedTuple):
    """Loop carry of one search (internal)."""

    count: jax.Array
    params: Params
    updates: Updates
    stepsize_guess: jax.Array
    # The latest trial point.
    stepsize: jax.Array
    value: jax.Array
    grad: Updates
    slope: jax.Array
    # phi(0) and phi'(0).
    value_init: jax.Array
    slope_init: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    # Bracket: `low` has the lower value of the two (not the smaller step).
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    # Third point for the cubic interpolant.
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    # Best step passing the decrease test (0 if none yet).
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Updates


def _cubic_minimizer(a, fa, fpa, b, fb, c, fc):
    """Critical point of the cubic through (a, fa), (b, fb), (c, fc) with
    slope ``fpa`` at ``a`` (NaN when it has none; the caller then rejects it).

    Writing p(x) = A d^3 + B d^2 + fpa d + fa with d = x - a, the two
    interpolation conditions give a 2x2 linear system in (A, B).
    """
    db = b - a
    dc = c - a
    denom = (db * dc) ** 2 * (db - dc)
    system = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    residuals = jnp.array([fb - fa - fpa * db, fc - fa - fpa * dc])
    coef_a, coef_b = (
        jnp.dot(system, residuals, precision=jax.lax.Precision.HIGHEST) / denom
    )
    disc = coef_b * coef_b - 3.0 * coef_a * fpa
    return a + (-coef_b + jnp.sqrt(disc)) / (3.0 * coef_a)


def _quadratic_minimizer(a, fa, fpa, b, fb):
    """Critical point of the quadratic through (a, fa), (b, fb), slope fpa at a."""
    db = b - a
    curv = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curv)


@hyperparameters(
    max_linesearch_steps=POSITIVE_INT,
    max_learning_rate=optional(POSITIVE),
    tol=NON_NEGATIVE,
    increase_factor=POSITIVE,
    slope_rtol=PROBABILITY,
    curv_rtol=real(0.0, allow_inf=True),
    approx_dec_rtol=optional(NON_NEGATIVE),
    stepsize_precision=NON_NEGATIVE,
    initial_guess_strategy=choice("one", "keep"),
    verbose=BOOL,
)
def scale_by_zoom_linesearch(
    max_linesearch_steps: jax.typing.ArrayLike,
    max_learning_rate: jax.typing.ArrayLike | None = None,
    tol: jax.typing.ArrayLike = 0.0,
    increase_factor: jax.typing.ArrayLike = 2.0,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    approx_dec_rtol: jax.typing.ArrayLike | None = 1e-6,
    stepsize_precision: jax.typing.ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    """Scale the updates by a step satisfying the strong Wolfe conditions.

    ``update(updates, state, params, *, value, grad, value_fn, **kwargs)``:
    ``value``/``grad`` are the objective and its gradient at ``params``;
    ``value_fn(params, **kwargs)`` must be differentiable; every other keyword
    must be a parameter of ``value_fn``. The accepted point's value and
    gradient are stored in the state for :func:`~tsx.value_and_grad_from_state`.

    Args:
      max_linesearch_steps: the most objective evaluations per search.
      max_learning_rate: the largest step tried (``None``: unbounded).
      tol: tolerance ``epsilon`` of both tests.
      increase_factor: growth of the trial step while bracketing (> 1).
      slope_rtol: ``c_1`` of the decrease test.
      curv_rtol: ``c_2`` of the curvature test (``jnp.inf`` disables it).
      approx_dec_rtol: ``c_3`` gating the approximate decrease test
        (``None``: Armijo's test only).
      stepsize_precision: once the bracket is shorter than this and some step
        passed the decrease test, that step is taken.
      initial_guess_strategy: ``'one'`` starts each search at 1 (quasi-Newton
        directions), ``'keep'`` at the previous accepted step (gradient
        directions).
      verbose: print diagnostics when a search fails.
    """

    def evaluate(value_and_grad_fn, s: _Search, stepsize):
        point = tu.tree_add_scale(s.params, stepsize, s.updates)
        value, grad = value_and_grad_fn(point)
        slope = tu.tree_real(tu.tree_vdot(tu.tree_conj(grad), s.updates))
        return value, grad, slope

    def decrease_violation(stepsize, value, slope, value_init, slope_init):
        err = value - value_init - slope_rtol * stepsize * slope_init
        if approx_dec_rtol is not None:
            # Hager-Zhang's approximate test, only allowed close to the
            # minimum (value not above phi(0) + c_3 |phi(0)|); either test may
            # be the one passed.
            approx = slope - (2 * slope_rtol - 1.0) * slope_init
            gate = value - value_init - approx_dec_rtol * jnp.abs(value_init)
            err = jnp.minimum(jnp.maximum(approx, gate), err)
        err = jnp.maximum(err, 0.0)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def curvature_violation(slope, slope_init):
        err = jnp.maximum(jnp.abs(slope) - curv_rtol * jnp.abs(slope_init), 0.0)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def bracket(s: _Search, value_and_grad_fn) -> _Search:
        """One step of Algorithm 3.5: grow the step until a bracket is found."""
        first = s.count == 0
        step = jnp.where(first, s.stepsize_guess, increase_factor * s.stepsize)
        if max_learning_rate is not None:
            at_max = step >= max_learning_rate
            step = jnp.minimum(step, max_learning_rate)
        else:
            at_max = jnp.asarray(False)
        value, grad, slope = evaluate(value_and_grad_fn, s, step)
        dec = decrease_violation(step, value, slope, s.value_init, s.slope_init)
        curv = curvature_violation(slope, s.slope_init)
        err = jnp.maximum(dec, curv)

        safe_stepsize, safe_value, safe_grad = tu.tree_where(
            dec <= tol,
            [step, value, grad],
            [s.safe_stepsize, s.safe_value, s.safe_grad],
        )
        # The new point bounds the bracket from above when it fails the
        # decrease test or does not improve on the previous trial ...
        new_is_high = (dec > 0.0) | ((value >= s.value) & ~first)
        # ... and from below when the slope has turned non-negative.
        new_is_low = (slope >= 0.0) & ~new_is_high
        low, value_low, slope_low, high, value_high, slope_high = tu.tree_where(
            new_is_low,
            [step, value, slope, s.stepsize, s.value, s.slope],
            [s.stepsize, s.value, s.slope, step, value, slope],
        )
        found = new_is_high | new_is_low | (err <= tol)
        # Reaching the cap without a bracket: the cap passes the decrease test
        # and a larger step would be needed for the curvature test; stop there.
        done = (err <= tol) | (at_max & ~found)
        if verbose:
            _print_if(
                at_max & ~found,
                "tsx.scale_by_zoom_linesearch: no bracket below max_learning_rate "
                "(step {st}, decrease error {d}, curvature error {c}); taking the "
                "largest step, the curvature condition is not satisfied.",
                st=step,
                d=dec,
                c=curv,
            )
        failed = (s.count + 1 >= max_linesearch_steps) & ~done
        out = s._replace(
            count=numerics.safe_increment(s.count),
            stepsize=step,
            value=value,
            grad=grad,
            slope=slope,
            decrease_error=dec,
            curvature_error=curv,
            error=err,
            interval_found=jnp.asarray(found),
            done=jnp.asarray(done),
            failed=jnp.asarray(failed),
            low=low,
            value_low=value_low,
            slope_low=slope_low,
            high=high,
            value_high=value_high,
            slope_high=slope_high,
            cubic_ref=low,
            value_cubic_ref=value_low,
            safe_stepsize=safe_stepsize,
            safe_value=safe_value,
            safe_grad=safe_grad,
        )
        return tu.tree_cast_like(out, s)

    def zoom(s: _Search, value_and_grad_fn) -> _Search:
        """One step of Algorithm 3.6: shrink the bracket [low, high]."""
        width = jnp.abs(s.high - s.low)
        left = jnp.minimum(s.high, s.low)
        right = jnp.maximum(s.high, s.low)
        too_narrow = width <= stepsize_precision

        # Interpolants are trusted only well inside the bracket (20% / 10%
        # margins); otherwise bisect.
        cubic = _cubic_minimizer(
            s.low,
            s.value_low,
            s.slope_low,
            s.high,
            s.value_high,
            s.cubic_ref,
            s.value_cubic_ref,
        )
        use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
        quad = _quadratic_minimizer(
            s.low, s.value_low, s.slope_low, s.high, s.value_high
        )
        use_quad = (
            ~use_cubic & (quad > left + 0.1 * width) & (quad < right - 0.1 * width)
        )
        middle = jnp.where(
            use_cubic, cubic, jnp.where(use_quad, quad, (s.low + s.high) / 2.0)
        )

        value, grad, slope = evaluate(value_and_grad_fn, s, middle)
        dec = decrease_violation(middle, value, slope, s.value_init, s.slope_init)
        curv = curvature_violation(slope, s.slope_init)
        err = jnp.maximum(dec, curv)

        better_safe = (dec <= tol) & (value < s.safe_value)
        safe_stepsize, safe_value, safe_grad = tu.tree_where(
            better_safe,
            [middle, value, grad],
            [s.safe_stepsize, s.safe_value, s.safe_grad],
        )
        done = err <= tol

        middle_is_high = (dec > 0.0) | (value >= s.value_low)
        # Otherwise middle becomes `low`; if the slope there points away from
        # the old `high`, the old `low` becomes `high` to keep a bracket.
        low_is_high = (slope * (s.high - s.low) >= 0.0) & ~middle_is_high
        high, value_high, slope_high = tu.tree_where(
            middle_is_high,
            [middle, value, slope],
            [s.high, s.value_high, s.slope_high],
        )
        high, value_high, slope_high = tu.tree_where(
            low_is_high,
            [s.low, s.value_low, s.slope_low],
            [high, value_high, slope_high],
        )
        low, value_low, slope_low = tu.tree_where(
            ~middle_is_high,
            [middle, value, slope],
            [s.low, s.value_low, s.slope_low],
        )
        # The endpoint that was replaced is the next cubic reference.
        cubic_ref, value_cubic_ref = tu.tree_where(
            middle_is_high | low_is_high,
            [s.high, s.value_high],
            [s.low, s.value_low],
        )
        # A bracket below the precision ends the search only once some step
        # passed the decrease test (very steep objectives need tiny steps).
        give_up = ((s.count + 1) >= max_linesearch_steps) | (
            too_narrow & (safe_stepsize > 0.0)
        )
        out = s._replace(
            count=numerics.safe_increment(s.count),
            stepsize=middle,
            value=value,
            grad=grad,
            slope=slope,
            decrease_error=dec,
            curvature_error=curv,
            error=err,
            done=done,
            failed=give_up & ~done,
            low=low,
            value_low=value_low,
            slope_low=slope_low,
            high=high,
            value_high=value_high,
            slope_high=slope_high,
            cubic_ref=cubic_ref,
            value_cubic_ref=value_cubic_ref,
            safe_stepsize=safe_stepsize,
            safe_value=safe_value,
            safe_grad=safe_grad,
        )
        return tu.tree_cast_like(out, s)

    def fall_back(s: _Search) -> _Search:
        """On failure take the safe step if any (or if the last trial left the
        domain, where the safe step is 0 and nothing moves), else the last."""
        use_safe = (s.safe_stepsize > 0.0) | jnp.isinf(s.decrease_error)
        stepsize, value, grad = tu.tree_where(
            use_safe,
            [s.safe_stepsize, s.safe_value, s.safe_grad],
            [s.stepsize, s.value, s.grad],
        )
        if verbose:
            jax.debug.print(
                "tsx.scale_by_zoom_linesearch: search failed (phi(0) {v}, "
                "phi'(0) {sl}, last step {st}, decrease error {d}, curvature "
                "error {c}, safe step {safe}). A non-negative phi'(0) means the "
                "updates are not a descent direction; a safe step of 0 means no "
                "step decreased the objective enough.",
                v=s.value_init,
                sl=s.slope_init,
                st=s.stepsize,
                d=s.decrease_error,
                c=s.curvature_error,
                safe=s.safe_stepsize,
                ordered=True,
            )
        out = s._replace(stepsize=stepsize, value=value, grad=grad)
        return tu.tree_cast_like(out, s)

    def init_fn(params: Params) -> ScaleByZoomLinesearchState:
        dtype = val_dtype(params)
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.asarray(1.0, dtype=dtype),
            value=jnp.asarray(jnp.inf, dtype=dtype),
            grad=tu.tree_zeros_like(params),
            info=ZoomLinesearchInfo(
                num_linesearch_steps=strong_scalar(0),
                decrease_error=strong_scalar(jnp.inf),
                curvature_error=strong_scalar(jnp.inf),
            ),
        )

    def update_fn(
        updates: Updates,
        state: ScaleByZoomLinesearchState,
        params: Params,
        *,
        value: jax.typing.ArrayLike,
        grad: Updates,
        value_fn: Callable[..., jax.typing.ArrayLike],
        **extra_args: Any,
    ) -> tuple[Updates, ScaleByZoomLinesearchState]:
        fn_kwargs = split_fn_kwargs(value_fn, extra_args, "scale_by_zoom_linesearch")
        value_and_grad_fn = functools.partial(jax.value_and_grad(value_fn), **fn_kwargs)

        dtype = val_dtype(params)
        slope = tu.tree_real(tu.tree_vdot(updates, grad))
        guess = (
            jnp.asarray(1.0) if initial_guess_strategy == "one" else state.learning_rate
        )
        zero = jnp.asarray(0.0)
        start = _Search(
            count=jnp.asarray(0),
            params=params,
            updates=updates,
            stepsize_guess=guess,
            stepsize=jnp.asarray(0.0, dtype=dtype),
            value=jnp.array(value, dtype=dtype),
            grad=grad,
            slope=slope,
            value_init=value,
            slope_init=slope,
            decrease_error=jnp.asarray(jnp.inf),
            curvature_error=jnp.asarray(jnp.inf),
            error=jnp.asarray(jnp.inf),
            interval_found=jnp.asarray(False),
            done=jnp.asarray(False),
            failed=jnp.asarray(False),
            low=zero,
            value_low=value,
            slope_low=slope,
            high=zero,
            value_high=value,
            slope_high=slope,
            cubic_ref=zero,
            value_cubic_ref=value,
            safe_stepsize=zero,
            safe_value=value,
            safe_grad=grad,
        )

        def step(s: _Search) -> _Search:
            new = jax.lax.cond(
                s.interval_found,
                functools.partial(zoom, value_and_grad_fn=value_and_grad_fn),
                functools.partial(bracket, value_and_grad_fn=value_and_grad_fn),
                s,
            )
            new = jax.lax.cond(new.failed, fall_back, lambda x: x, new)
            return tu.tree_cast_like(new, s)

        final = jax.lax.while_loop(lambda s: ~(s.done | s.failed), step, start)
        new_state = ScaleByZoomLinesearchState(
            learning_rate=final.stepsize,
            value=final.value,
            grad=final.grad,
            info=ZoomLinesearchInfo(
                num_linesearch_steps=final.count,
                decrease_error=final.decrease_error,
                curvature_error=final.curvature_error,
            ),
        )
        return tu.tree_scale(final.stepsize, updates), tu.tree_cast_like(
            new_state, state
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _print_if(condition: jax.Array, message: str, **kwargs: Any) -> None:
    jax.lax.cond(
        condition,
        lambda: jax.debug.print(message, **kwargs, ordered=True),
        lambda: None,
    )
