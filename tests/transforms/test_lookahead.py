"""lookahead against Optax and the paper's update, with a checkpoint mid-run."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, grads_at, nested_params, state_layout
from tests.transforms.helpers import assert_resume_matches, run_both

BASE = nested_params()


def _lookahead_params(lib):
    return lib.LookaheadParams.init_synced(BASE)


def _grads(n):
    return [grads_at(BASE, step) for step in range(n)]


@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_matches_optax(reset_state):
    run_both(
        lambda lib: lib.lookahead(
            lib.adam(1e-2), sync_period=3, slow_step_size=0.5, reset_state=reset_state
        ),
        _lookahead_params,
        _grads(7),
        jit=True,
    )


def test_lookahead_in_optax_chain_and_with_optax_inner():
    run_both(
        lambda lib: optax.chain(lib.lookahead(optax.sgd(0.1), 2, 0.3)),
        _lookahead_params,
        _grads(4),
    )
    # Optax's LookaheadParams given to tsx's lookahead: updates come back in
    # Optax's class, so optax.apply_updates accepts them.
    run_both(
        lambda lib: (
            tsx.lookahead(optax.adam(1e-2), 2, 0.3)
            if lib is tsx
            else optax.lookahead(tsx.adam(1e-2), 2, 0.3)
        ),
        lambda lib: optax.LookaheadParams.init_synced(BASE),
        _grads(4),
    )


def test_lookahead_by_hand():
    # Plain gradient steps of -1 each, k = 2, alpha = 0.5, from 0.
    tx = tsx.lookahead(tsx.scale(-1.0), sync_period=2, slow_step_size=0.5)
    params = tsx.LookaheadParams.init_synced(jnp.zeros(()))
    state = tx.init(params)
    history = []
    for _ in range(4):
        u, state = tx.update(jnp.ones(()), state, params)
        params = tsx.apply_updates(params, u)
        history.append((float(params.fast), float(params.slow)))
    # After 2 fast steps fast = -2, slow moves to -1, fast resets to -1.
    assert history == [(-1.0, 0.0), (-1.0, -1.0), (-2.0, -1.0), (-2.0, -2.0)]


def test_lookahead_restores_from_checkpoint_mid_run():
    assert_resume_matches(
        lambda lib: lib.lookahead(lib.adam(1e-2), sync_period=3, slow_step_size=0.5),
        _lookahead_params,
        _grads(7),
        cut=4,
    )


def test_init_with_bare_params_warns_and_builds_the_same_state(caplog):
    tx = tsx.lookahead(tsx.adam(1e-2), 2, 0.5)
    with caplog.at_level(logging.WARNING):
        state = tx.init(BASE)
    assert "fast" in caplog.text
    want = optax.lookahead(optax.adam(1e-2), 2, 0.5).init(_lookahead_params(optax))
    assert state_layout(state) == state_layout(want)
    assert_trees_close(state, want)


def test_lookahead_params_fields_match_optax():
    assert tsx.LookaheadParams._fields == optax.LookaheadParams._fields
    assert tsx.LookaheadState._fields == optax.LookaheadState._fields
    p = tsx.LookaheadParams.init_synced(jnp.ones(2))
    np.testing.assert_array_equal(p.fast, p.slow)
    assert jax.tree.structure(p) != jax.tree.structure(jnp.ones(2))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(sync_period=0, slow_step_size=0.5), "sync_period"),
        (dict(sync_period=2, slow_step_size=1.5), "slow_step_size"),
        (dict(sync_period=2, slow_step_size=-0.1), "slow_step_size"),
    ],
)
def test_bad_arguments_raise(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.lookahead(tsx.adam(1e-3), **kwargs)
