"""Shared helpers for comparing tsx with Optax, the numerical oracle.

A case is a function ``make(lib)`` that builds the same transformation from
either library (``lib`` is the module ``tsx`` or ``optax``); the helpers run
both on the same inputs and compare updates step by step, and compare the
states' serialized layouts (what a checkpoint stores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

import tsx

RTOL = 1e-5
ATOL = 1e-6


def nested_params(seed: int = 0, dtype=jnp.float32) -> dict:
    """A nested tree with scalar, 1-D, 2-D and 4-D leaves (like a small CNN)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    return {
        "scale": jnp.asarray(0.7, dtype),
        "dense": {
            "bias": jax.random.normal(keys[0], (5,), dtype),
            "kernel": jax.random.normal(keys[1], (3, 5), dtype),
        },
        "conv": {"kernel": jax.random.normal(keys[2], (2, 3, 3, 4), dtype)},
        "layers": [jax.random.normal(keys[3], (6,), dtype)],
    }


def grads_at(params: Any, step: int, seed: int = 1) -> Any:
    """Deterministic pseudo-gradients for ``step``: varied signs and magnitudes."""
    leaves, treedef = jax.tree.flatten(params)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), step)
    keys = jax.random.split(key, len(leaves))
    new = [
        (jax.random.normal(k, jnp.shape(x)) * 0.5 + 0.1 * x).astype(
            jnp.asarray(x).dtype
        )
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, new)


def state_layout(state: Any) -> Any:
    """What a checkpoint stores: the state dict's keys, leaf shapes and dtypes."""
    sd = flax.serialization.to_state_dict(state)
    return jax.tree.map(lambda x: (np.shape(x), str(jnp.asarray(x).dtype)), sd)


def assert_trees_close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL, msg=""):
    la, ta = jax.tree.flatten(a, is_leaf=lambda x: x is None)
    lb, tb = jax.tree.flatten(b, is_leaf=lambda x: x is None)
    assert len(la) == len(lb), f"{msg}: {ta} vs {tb}"
    for i, (x, y) in enumerate(zip(la, lb, strict=True)):
        if x is None or y is None:
            assert x is None and y is None, f"{msg}: leaf {i} None mismatch"
            continue
        np.testing.assert_allclose(
            np.asarray(x, dtype=np.float64)
            if not np.iscomplexobj(x)
            else np.asarray(x),
            np.asarray(y, dtype=np.float64)
            if not np.iscomplexobj(y)
            else np.asarray(y),
            rtol=rtol,
            atol=atol,
            err_msg=f"{msg}: leaf {i}",
        )


def compare_with_optax(
    make: Callable[[Any], Any],
    params: Any | None = None,
    steps: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
    extra_args: Callable[[int, Any], dict] | None = None,
    check_layout: bool = True,
    jit: bool = False,
) -> tuple[Any, Any]:
    """Run ``make(tsx)`` and ``make(optax)`` side by side; assert they agree.

    Each step feeds both the same gradients and their own parameters; the
    updates must agree within ``rtol``/``atol`` at every step, and the two
    states must serialize to the same keys, shapes and dtypes. Returns the
    final (tsx_state, optax_state).
    """
    params = nested_params() if params is None else params
    tx_a, tx_b = make(tsx), make(optax)
    state_a, state_b = tx_a.init(params), tx_b.init(params)
    if check_layout:
        assert state_layout(state_a) == state_layout(state_b), "state layouts differ"
    update_a = jax.jit(tx_a.update) if jit else tx_a.update
    update_b = jax.jit(tx_b.update) if jit else tx_b.update
    p_a = p_b = params
    for step in range(steps):
        g = grads_at(params, step)
        kw = extra_args(step, p_a) if extra_args else {}
        u_a, state_a = update_a(g, state_a, p_a, **kw)
        kw = extra_args(step, p_b) if extra_args else {}
        u_b, state_b = update_b(g, state_b, p_b, **kw)
        assert_trees_close(u_a, u_b, rtol, atol, msg=f"updates at step {step}")
        p_a = tsx.apply_updates(p_a, u_a)
        p_b = optax.apply_updates(p_b, u_b)
    if check_layout:
        assert state_layout(state_a) == state_layout(state_b), "state layouts differ"
    return state_a, state_b
