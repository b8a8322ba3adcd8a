"""Per-element gradients and a side-by-side runner for aggregators.

Aggregators take per-element gradients (leaves ``[*batch, *param_shape]``),
so ``tests.oracle.compare_with_optax`` (which feeds parameter-shaped
gradients) does not apply; :func:`run_both` feeds both libraries the same
per-element gradients and compares every output and every state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.experimental

import tsx
import tsx.experimental
from tests.oracle import assert_trees_close, state_layout


def small_params() -> dict:
    """A small nested tree (scalar, 1-D and 2-D leaves): quick to compile."""
    rng = np.random.default_rng(0)
    return {
        "scale": jnp.asarray(0.7, jnp.float32),
        "dense": {
            "bias": jnp.asarray(rng.standard_normal(2), jnp.float32),
            "kernel": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32),
        },
    }


def per_element_grads(
    params: Any, step: int, batch_shape: tuple[int, ...] = (4,), trailing=False
) -> Any:
    """Pseudo per-element gradients: batch axes first (or last if ``trailing``).

    Drawn with NumPy, so that building them compiles nothing.
    """
    rng = np.random.default_rng(100 + step)
    leaves, treedef = jax.tree.flatten(params)
    out = []
    for x in leaves:
        shape = (*x.shape, *batch_shape) if trailing else (*batch_shape, *x.shape)
        # A per-leaf offset so that means are not all near zero.
        g = rng.standard_normal(shape) * 0.7 + 0.3 * float(np.mean(x))
        out.append(jnp.asarray(g, jnp.float32))
    return jax.tree.unflatten(treedef, out)


def param_grads(params: Any, step: int) -> Any:
    """Pseudo gradients shaped like ``params`` (no batch axes)."""
    return per_element_grads(params, step, batch_shape=())


def agg(lib: Any) -> Any:
    """The ``aggregating`` namespace of ``lib`` (tsx or optax)."""
    return lib.experimental.aggregating


def run_both(
    make: Callable[[Any], Any],
    grads: Callable[[int], Any],
    steps: int = 5,
    params: Any | None = None,
    jit: bool = True,
    extra_args: Callable[[int], dict] | None = None,
) -> tuple[Any, Any]:
    """Feed ``make(tsx)`` and ``make(optax)`` ``grads(step)``; compare everything.

    At every step the outputs (updates, with any aux) and the full states
    must agree within the oracle tolerances; the state layouts must agree
    at init and at the end. Returns the final (tsx_state, optax_state).
    """
    params = small_params() if params is None else params
    tx_a, tx_b = make(tsx), make(optax)
    state_a, state_b = tx_a.init(params), tx_b.init(params)
    assert state_layout(state_a) == state_layout(state_b), "init state layouts differ"
    update_a = jax.jit(tx_a.update) if jit else tx_a.update
    update_b = jax.jit(tx_b.update) if jit else tx_b.update
    for step in range(steps):
        g = grads(step)
        kw = extra_args(step) if extra_args else {}
        out_a, state_a = update_a(g, state_a, params, **kw)
        out_b, state_b = update_b(g, state_b, params, **kw)
        assert jax.tree.structure(out_a) == jax.tree.structure(out_b), step
        assert_trees_close(out_a, out_b, msg=f"outputs at step {step}")
        assert_trees_close(state_a, state_b, msg=f"states at step {step}")
    assert state_layout(state_a) == state_layout(state_b), "state layouts differ"
    return state_a, state_b
