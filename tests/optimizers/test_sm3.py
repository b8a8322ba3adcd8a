"""SM3 and scale_by_sm3 against Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def tensor_params():
    # Optax 0.2.8 cannot step on scalar leaves, so the oracle runs without one.
    params = nested_params()
    del params["scale"]
    return params


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.sm3(1e-2), params=tensor_params(), steps=6)


def test_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.sm3(0.3, momentum=0.5), params=tensor_params(), jit=True
    )


def test_building_block_with_decay_matches_optax():
    compare_with_optax(
        lambda lib: lib.scale_by_sm3(b1=0.7, b2=0.9, eps=1e-4),
        params=tensor_params(),
    )


def test_accumulators_by_hand_for_a_matrix():
    # b1=0: the update is g / sqrt(nu) with nu(i,j) = min(row_i, col_j) + g^2.
    tx = tsx.scale_by_sm3(b1=0.0, eps=0.0)
    g1 = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    g2 = jnp.array([[1.0, 1.0], [1.0, 1.0]])
    state = tx.init(g1)
    _, state = tx.update(g1, state)
    rows, cols = state.mu
    np.testing.assert_allclose(rows, [4.0, 16.0])
    np.testing.assert_allclose(cols, [9.0, 16.0])
    u, _ = tx.update(g2, state)
    nu = np.minimum(np.array([[4.0], [16.0]]), np.array([[9.0, 16.0]])) + 1.0
    np.testing.assert_allclose(u, 1.0 / np.sqrt(nu), rtol=1e-6)


def test_scalar_leaves_are_supported():
    # tsx extension: a scalar is its own cover (Optax 0.2.8 fails here).
    tx = tsx.sm3(0.1, momentum=0.0)
    p = {"s": jnp.array(2.0)}
    state = tx.init(p)
    for g in [3.0, 4.0]:
        u, state = tx.update({"s": jnp.array(g)}, state, p)
    # nu = 3^2 + 4^2 = 25, so the second update is -0.1 * 4 / 5.
    np.testing.assert_allclose(u["s"], -0.08, rtol=1e-6)


def test_complex_params_rejected():
    with pytest.raises(ValueError, match="complex"):
        tsx.sm3(0.1).init(jnp.ones(3, jnp.complex64))


def test_state_class():
    state = tsx.sm3(0.1).init(tensor_params())
    assert isinstance(state[0], tsx.ScaleBySM3State)
    assert [x.shape for x in state[0].mu["conv"]["kernel"]] == [(2,), (3,), (3,), (4,)]
    assert jax.tree.structure(state[0].nu) == jax.tree.structure(tensor_params())


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=0.1, momentum=1.5), "momentum"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.sm3(**kwargs)


def test_bad_building_block_hyperparameters():
    with pytest.raises(ValueError, match="b2"):
        tsx.scale_by_sm3(b2=2.0)
    with pytest.raises(ValueError, match="eps"):
        tsx.scale_by_sm3(eps=-1.0)


def test_schedule_rejected_with_clear_error():
    with pytest.raises(TypeError, match="sm3: learning_rate must be a finite float"):
        tsx.sm3(lambda count: 0.1)


@pytest.mark.parametrize("name,extra", [("sm3", ()), ("scale_by_sm3", ())])
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
