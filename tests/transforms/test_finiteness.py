"""apply_if_finite and zero_nans against Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import assert_trees_close, grads_at, nested_params
from tests.transforms.helpers import run_both

PARAMS = nested_params()


def _grads(n, bad_at=(), value=jnp.nan):
    out = []
    for step in range(n):
        g = grads_at(PARAMS, step)
        if step in bad_at:
            kernel = g["dense"]["kernel"].at[1, 2].set(value)
            g = {**g, "dense": {**g["dense"], "kernel": kernel}}
        out.append(g)
    return out


def test_apply_if_finite_in_chain_matches_optax():
    state, optax_state = run_both(
        lambda lib: lib.chain(
            lib.clip_by_global_norm(2.0), lib.apply_if_finite(lib.adam(1e-2), 2)
        ),
        PARAMS,
        _grads(6, bad_at=(1, 3, 4)),
        jit=True,
    )
    assert_trees_close(state, optax_state)


def test_nan_step_leaves_params_and_inner_state_untouched_and_counts():
    tx = tsx.apply_if_finite(tsx.adam(1e-2), max_consecutive_errors=3)
    update = jax.jit(tx.update)
    grads = _grads(5, bad_at=(2,))
    state = tx.init(PARAMS)
    params = PARAMS
    for step, g in enumerate(grads):
        before_params, before_inner = params, state.inner_state
        u, state = update(g, state, params)
        params = tsx.apply_updates(params, u)
        if step == 2:
            assert_trees_close(params, before_params, rtol=0, atol=0)
            assert_trees_close(state.inner_state, before_inner, rtol=0, atol=0)
            assert not bool(state.last_finite)
            assert int(state.notfinite_count) == 1
        else:
            assert bool(state.last_finite)
            assert int(state.notfinite_count) == 0
    assert int(state.total_notfinite) == 1
    # The inner Adam saw four steps, not five.
    assert int(state.inner_state[0].count) == 4


def test_gives_up_after_max_consecutive_errors():
    tx = tsx.apply_if_finite(tsx.scale(-1.0), max_consecutive_errors=1)
    state = tx.init(PARAMS)
    outs = []
    for g in _grads(3, bad_at=(0, 1, 2), value=jnp.inf):
        u, state = tx.update(g, state, PARAMS)
        outs.append(bool(np.isinf(u["dense"]["kernel"]).any()))
    # Step 0 is skipped; steps 1 and 2 exceed the limit and pass through.
    assert outs == [False, True, True]
    assert int(state.total_notfinite) == 3


def test_zero_nans_matches_optax():
    state, optax_state = run_both(
        lambda lib: lib.chain(lib.zero_nans(), lib.adam(1e-2)),
        PARAMS,
        _grads(4, bad_at=(1, 2)),
        jit=True,
    )
    assert_trees_close(state[0], optax_state[0])
    assert bool(state[0].found_nan["dense"]["kernel"]) is False


def test_zero_nans_by_hand():
    tx = tsx.zero_nans()
    u, state = tx.update({"a": jnp.array([1.0, jnp.nan]), "b": jnp.ones(2)}, None)
    np.testing.assert_array_equal(u["a"], [1.0, 0.0])
    assert bool(state.found_nan["a"]) and not bool(state.found_nan["b"])


def test_bad_max_consecutive_errors_raises():
    with pytest.raises(ValueError, match="max_consecutive_errors"):
        tsx.apply_if_finite(tsx.adam(1e-3), -1)
