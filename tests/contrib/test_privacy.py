"""DP aggregation and DP-SGD against Optax, with the same PRNG keys."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, state_layout

BATCH = 4


def _params():
    ks = jax.random.split(jax.random.PRNGKey(0), 2)
    return {"w": jax.random.normal(ks[0], (3, 2)), "b": jax.random.normal(ks[1], (2,))}


def _per_example_grads(step):
    # Per-example gradients (batch on axis 0) with norms on both sides of the
    # clip bound, plus one all-zero example.
    ks = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(9), step), 2)
    scales = jnp.array([0.1, 1.0, 5.0, 0.0])
    w = jax.random.normal(ks[0], (BATCH, 3, 2)) * scales[:, None, None]
    b = jax.random.normal(ks[1], (BATCH, 2)) * scales[:, None]
    return {"w": w, "b": b}


def _run_both(make, steps=5, jit=False):
    params = _params()
    tx_a, tx_b = make(tsx), make(optax)
    s_a, s_b = tx_a.init(params), tx_b.init(params)
    assert state_layout(s_a) == state_layout(s_b)
    up_a = jax.jit(tx_a.update) if jit else tx_a.update
    up_b = jax.jit(tx_b.update) if jit else tx_b.update
    p_a = p_b = params
    for step in range(steps):
        g = _per_example_grads(step)
        u_a, s_a = up_a(g, s_a, p_a)
        u_b, s_b = up_b(g, s_b, p_b)
        assert jax.tree.map(jnp.shape, u_a) == jax.tree.map(jnp.shape, params)
        assert_trees_close(u_a, u_b, msg=f"step {step}")
        p_a, p_b = tsx.apply_updates(p_a, u_a), optax.apply_updates(p_b, u_b)
    assert state_layout(s_a) == state_layout(s_b)
    return s_a, s_b


def _keys(state):
    return [
        np.asarray(jax.random.key_data(x))
        for x in jax.tree.leaves(state)
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
    ]


@pytest.mark.parametrize("key", [jax.random.key(3), 7])
def test_aggregate_matches_optax(key):
    s_a, s_b = _run_both(
        lambda lib: lib.contrib.differentially_private_aggregate(
            l2_norm_clip=1.0, noise_multiplier=0.5, key=key
        ),
        jit=True,
    )
    for ka, kb in zip(_keys(s_a), _keys(s_b), strict=True):
        np.testing.assert_array_equal(ka, kb)


def test_aggregate_without_noise_is_the_mean_of_clipped_gradients():
    # Derived by hand: each example scaled by min(1, C / ||g_b||), then mean.
    g = _per_example_grads(0)
    tx = tsx.contrib.differentially_private_aggregate(1.0, 0.0, key=0)
    u, _ = tx.update(g, tx.init(_params()))
    norms = np.sqrt(
        np.sum(np.asarray(g["w"]) ** 2, axis=(1, 2))
        + np.sum(np.asarray(g["b"]) ** 2, axis=1)
    )
    factor = np.where(
        norms > 0, np.minimum(1.0, 1.0 / np.where(norms > 0, norms, 1)), 1.0
    )
    expected_b = (np.asarray(g["b"]) * factor[:, None]).sum(0) / BATCH
    np.testing.assert_allclose(u["b"], expected_b, rtol=1e-5, atol=1e-7)


def test_seed_is_deprecated_but_matches_optax():
    def make(lib):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return lib.contrib.differentially_private_aggregate(1.0, 0.3, seed=5)

    _run_both(make)
    with pytest.warns(DeprecationWarning):
        tsx.contrib.differentially_private_aggregate(1.0, 0.3, seed=5)


@pytest.mark.parametrize(
    "momentum,nesterov", [(None, False), (0.9, False), (0.5, True)]
)
def test_dpsgd_matches_optax(momentum, nesterov):
    def make(lib):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return lib.contrib.dpsgd(
                learning_rate=lambda c: 0.1 * 0.9**c,
                l2_norm_clip=0.8,
                noise_multiplier=1.1,
                seed=42,
                momentum=momentum,
                nesterov=nesterov,
            )

    _run_both(make, jit=True)


def test_dpsgd_without_momentum_matches_optax():
    def make(lib):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return lib.contrib.dpsgd(0.05, 1.0, 0.5, seed=1)

    _run_both(make)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(l2_norm_clip=-1.0, noise_multiplier=1.0, key=0), "l2_norm_clip"),
        (dict(l2_norm_clip=1.0, noise_multiplier=-1.0, key=0), "noise_multiplier"),
        (dict(l2_norm_clip=1.0, noise_multiplier=1.0, key=0, seed=1), "seed"),
    ],
)
def test_bad_aggregate_arguments_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            tsx.contrib.differentially_private_aggregate(**kwargs)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=0.1, momentum=-0.5), "momentum"),
        (dict(learning_rate=0.1, l2_norm_clip=-2.0), "l2_norm_clip"),
    ],
)
def test_bad_dpsgd_arguments_fail_at_construction(kwargs, arg):
    args = dict(learning_rate=0.1, l2_norm_clip=1.0, noise_multiplier=1.0, seed=0)
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.dpsgd(**(args | kwargs))
