"""Run a line-search solver loop in tsx and Optax side by side (test helper)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

import tsx
from tests.oracle import assert_trees_close, state_layout


def run_solver(
    lib: Any,
    make: Callable[[Any], Any],
    fn: Callable[..., Any],
    params: Any,
    steps: int,
    reuse: bool = True,
    fn_kwargs: dict | None = None,
    direction: Callable[[Any], Any] | None = None,
) -> list[tuple[Any, Any, Any]]:
    """``steps`` jitted iterations; returns ``(params, updates, state)`` per step.

    ``reuse``: get value and gradient with ``value_and_grad_from_state`` (as
    Optax's docs do) instead of ``jax.value_and_grad``. ``direction`` maps
    the gradient to the updates fed to the solver (default: the gradient).
    """
    solver = make(lib)
    fn_kwargs = fn_kwargs or {}
    vag = lib.value_and_grad_from_state(fn) if reuse else None

    @jax.jit
    def step(params, state):
        if reuse:
            value, grad = vag(params, state=state, **fn_kwargs)
        else:
            value, grad = jax.value_and_grad(fn)(params, **fn_kwargs)
        feed = grad if direction is None else direction(grad)
        updates, state = solver.update(
            feed, state, params, value=value, grad=grad, value_fn=fn, **fn_kwargs
        )
        return lib.apply_updates(params, updates), updates, state

    state = solver.init(params)
    out = []
    for _ in range(steps):
        params, updates, state = step(params, state)
        out.append((params, updates, state))
    return out


def compare_solvers(
    make: Callable[[Any], Any],
    fn: Callable[..., Any],
    params: Any,
    steps: int,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    **kwargs: Any,
) -> list[tuple[Any, Any, Any]]:
    """Assert tsx and Optax agree on iterates, updates and states at each step."""
    ours = run_solver(tsx, make, fn, params, steps, **kwargs)
    ref = run_solver(optax, make, fn, params, steps, **kwargs)
    assert state_layout(make(tsx).init(params)) == state_layout(
        make(optax).init(params)
    )
    for i, ((p_a, u_a, s_a), (p_b, u_b, s_b)) in enumerate(zip(ours, ref, strict=True)):
        assert_trees_close(u_a, u_b, rtol, atol, msg=f"updates at step {i}")
        assert_trees_close(p_a, p_b, rtol, atol, msg=f"params at step {i}")
        assert_trees_close(s_a, s_b, rtol, atol, msg=f"state at step {i}")
        assert state_layout(s_a) == state_layout(s_b)
    return ours
