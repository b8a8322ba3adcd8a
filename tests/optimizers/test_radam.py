"""RAdam and scale_by_radam against Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def schedule(count):
    return 0.1 * 0.9**count


def test_defaults_match_optax_through_the_switch():
    # With b2=0.9, rho_t crosses the threshold 5 at step 6: compare on both sides.
    compare_with_optax(lambda lib: lib.radam(1e-2, b2=0.9), steps=10)


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.radam(1e-2), steps=6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_non_defaults_match_optax(nesterov):
    compare_with_optax(
        lambda lib: lib.radam(
            3e-2,
            b1=0.5,
            b2=0.8,
            eps=1e-4,
            eps_root=1e-6,
            threshold=3.0,
            nesterov=nesterov,
        ),
        steps=8,
    )


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.radam(schedule, b2=0.9), steps=8, jit=True)


def test_rectified_step_matches_hand_formula():
    # One coordinate, constant gradient g: m_hat = g, v_hat = g^2, so after the
    # switch the update is -lr * r_t * g / (|g| + eps).
    b2, lr, g = 0.9, 0.1, 2.0
    tx = tsx.radam(lr, b2=b2, eps=0.0)
    p = jnp.array([1.0])
    state = tx.init(p)
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, 9):
        u, state = tx.update(jnp.array([g]), state, p)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho >= 5.0:
            r = np.sqrt(
                (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
            )
            expected = -lr * r
        else:
            expected = -lr * g
        np.testing.assert_allclose(u[0], expected, rtol=1e-5)


def test_state_layout_and_dtypes():
    params = nested_params(dtype=jnp.bfloat16)
    state = tsx.radam(1e-2, mu_dtype=jnp.float32, nu_dtype=jnp.float32).init(params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state[0].nu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state[0].mu))
    default = tsx.radam(1e-2).init(params)
    ref = optax.radam(1e-2).init(params)
    assert jax.tree.map(lambda x: x.dtype, default) == jax.tree.map(
        lambda x: x.dtype, ref
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-3, b1=-0.5), "b1"),
        (dict(learning_rate=1e-3, b2=1.0), "b2"),
        (dict(learning_rate=1e-3, eps_root=-1.0), "eps_root"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.radam(**kwargs)


@pytest.mark.parametrize(
    "name,extra",
    [("radam", ("mu_dtype", "nu_dtype")), ("scale_by_radam", ("mu_dtype", "nu_dtype"))],
)
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
