"""Sophia and the Hutchinson estimator against Optax (obj_fn passed as needed)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, compare_with_optax


def objective(params):
    # Convex with a parameter-dependent Hessian diagonal 1 + 3 x^2.
    return sum(jnp.sum(0.5 * x**2 + 0.25 * x**4) for x in jax.tree.leaves(params))


def _params():
    # Two leaves keep the Hessian-vector-product compilations small.
    ks = jax.random.split(jax.random.PRNGKey(2), 2)
    return {"w": jax.random.normal(ks[0], (3, 2)), "b": jax.random.normal(ks[1], (2,))}


def _jitted(tx):
    """``tx`` with ``obj_fn=objective`` bound and its update jitted.

    A function cannot be a traced argument of a jitted update, and eager
    Sophia (a cond around a Hessian-vector product) is slow.
    """
    update = jax.jit(lambda u, s, p: tx.update(u, s, p, obj_fn=objective))
    return tsx.GradientTransformation(tx.init, lambda u, s, p=None: update(u, s, p))


def test_defaults_match_optax():
    compare_with_optax(lambda lib: _jitted(lib.contrib.sophia(1e-2)), params=_params())


def test_non_defaults_match_optax():
    mask = lambda p: {k: k != "b" for k in p}  # noqa: E731
    compare_with_optax(
        lambda lib: _jitted(
            lib.contrib.sophia(
                lambda c: 0.05 * 0.9**c,
                b1=0.9,
                b2=0.9,
                eps=1e-6,
                weight_decay=0.1,
                weight_decay_mask=mask,
                gamma=0.05,
                clip_threshold=0.5,
                update_interval=2,
                hessian_diagonal_fn=lib.contrib.hutchinson_estimator_diag_hessian(
                    jax.random.PRNGKey(4)
                ),
            )
        ),
        params=_params(),
        steps=6,
    )


def test_no_clipping_matches_optax():
    compare_with_optax(
        lambda lib: _jitted(
            lib.contrib.sophia(1e-2, clip_threshold=None, update_interval=3)
        ),
        params=_params(),
        steps=5,
    )


def test_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: _jitted(lib.contrib.sophia(1e-2, mu_dtype=jnp.bfloat16)),
        params=_params(),
        rtol=1e-2,
        atol=1e-3,
    )


def test_nu_dtype_keeps_the_hessian_ema_float32():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _params())
    tx = tsx.contrib.sophia(1e-2, nu_dtype=jnp.float32)
    state = tx.init(params)
    _, state = _jitted(tx).update(jax.tree.map(jnp.ones_like, params), state, params)
    assert {x.dtype for x in jax.tree.leaves(state[0].nu)} == {jnp.dtype("float32")}
    assert {x.dtype for x in jax.tree.leaves(state[0].mu)} == {jnp.dtype("bfloat16")}


def test_hutchinson_matches_optax_and_the_exact_diagonal_on_average():
    params = _params()
    key = jax.random.PRNGKey(1)
    tx_a = tsx.contrib.hutchinson_estimator_diag_hessian(key)
    tx_b = optax.contrib.hutchinson_estimator_diag_hessian(key)
    s_a, s_b = tx_a.init(params), tx_b.init(params)
    upd_a = jax.jit(lambda g, s, p: tx_a.update(g, s, p, obj_fn=objective))
    upd_b = jax.jit(lambda g, s, p: tx_b.update(g, s, p, obj_fn=objective))
    total = jax.tree.map(jnp.zeros_like, params)
    n = 4
    for _ in range(n):
        d_a, s_a = upd_a(params, s_a, params)
        d_b, s_b = upd_b(params, s_b, params)
        assert_trees_close(d_a, d_b)
        total = jax.tree.map(jnp.add, total, d_a)
    np.testing.assert_array_equal(s_a.key, s_b.key)
    # For a separable objective H is diagonal, so v * (H v) = diag(H) exactly.
    exact = jax.tree.map(lambda x: 1.0 + 3.0 * x**2, params)
    assert_trees_close(jax.tree.map(lambda t: t / n, total), exact, rtol=1e-5)


def test_hutchinson_needs_obj_fn():
    tx = tsx.contrib.hutchinson_estimator_diag_hessian()
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="obj_fn"):
        tx.update(params, tx.init(params), params)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-2, b1=1.0), "b1"),
        (dict(learning_rate=1e-2, b2=-0.5), "b2"),
        (dict(learning_rate=1e-2, eps=-1.0), "eps"),
        (dict(learning_rate=1e-2, gamma=-1.0), "gamma"),
        (dict(learning_rate=1e-2, clip_threshold=0.0), "clip_threshold"),
        (dict(learning_rate=1e-2, update_interval=0), "update_interval"),
        (dict(learning_rate=1e-2, weight_decay=-1.0), "weight_decay"),
        (dict(learning_rate=1e-2, verbose=True), "print_win_rate_every_n_steps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.sophia(**kwargs)
