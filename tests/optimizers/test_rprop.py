"""Rprop and scale_by_rprop against Optax."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.rprop(1e-2), steps=8)


def test_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.rprop(
            0.3, eta_minus=0.3, eta_plus=1.5, min_step_size=0.05, max_step_size=0.5
        ),
        steps=8,
        jit=True,
    )


def test_inject_hyperparams_matches_optax():
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.rprop)(learning_rate=0.1, eta_plus=1.5),
        steps=6,
        jit=True,
    )


def test_building_block_state_matches_optax():
    compare_with_optax(lambda lib: lib.scale_by_rprop(0.1), steps=6)


def test_step_sizes_follow_sign_agreement_by_hand():
    # Gradient signs +, +, -, -: the size grows by eta_plus, then shrinks by
    # eta_minus at the sign change, then is kept (memory cleared).
    tx = tsx.scale_by_rprop(1.0, eta_minus=0.5, eta_plus=2.0, max_step_size=100.0)
    p = jnp.array([0.0])
    state = tx.init(p)
    sizes = []
    for g in [1.0, 1.0, -1.0, -1.0]:
        _, state = tx.update(jnp.array([g]), state, p)
        sizes.append(float(state.step_sizes[0]))
    assert sizes == [1.0, 2.0, 1.0, 1.0]


def test_state_class():
    state = tsx.rprop(0.1).init(nested_params())
    assert isinstance(state[0], tsx.ScaleByRpropState)
    assert state[0]._fields == ("step_sizes", "prev_updates")
    np.testing.assert_allclose(state[0].step_sizes["dense"]["bias"], 0.1)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=0.1, eta_minus=-0.5), "eta_minus"),
        (dict(learning_rate=0.1, eta_plus=-1.0), "eta_plus"),
        (dict(learning_rate=0.1, min_step_size=-1.0), "min_step_size"),
        (dict(learning_rate=0.1, max_step_size=-1.0), "max_step_size"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.rprop(**kwargs)


@pytest.mark.parametrize("name,extra", [("rprop", ()), ("scale_by_rprop", ())])
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
