"""add_noise against Optax: same key, same noise."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import compare_with_optax

SMALL = {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))}


def test_add_noise_in_chain_matches_optax():
    # Sampling compiles slowly (threefry), so one run covers the nested tree
    # and the others use two leaves.
    compare_with_optax(
        lambda lib: lib.chain(
            lib.add_noise(0.05, 0.55, key=jax.random.key(3)), lib.scale(-0.5)
        ),
        jit=True,
    )


def test_add_noise_with_int_seed_and_adam_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(lib.add_noise(0.05, 0.55, key=7), lib.adam(1e-2)),
        params=SMALL,
    )


def test_noise_statistics_follow_the_annealed_variance():
    params = {"w": jnp.zeros((20000,))}
    tx = tsx.add_noise(eta=4.0, gamma=1.0, key=jax.random.key(0))
    state = tx.init(params)
    for step in (1, 2):
        u, state = tx.update(params, state)
        # sigma_t^2 = eta / t^gamma.
        np.testing.assert_allclose(np.var(u["w"]), 4.0 / step, rtol=0.05)
    assert int(state.count) == 2


def test_seed_keyword_and_missing_key_warn_like_optax():
    params = SMALL
    with pytest.warns(DeprecationWarning):
        a = tsx.add_noise(0.1, 0.5, seed=2)
    b = optax.add_noise(0.1, 0.5, key=2)
    g = jax.tree.map(jnp.ones_like, params)
    ua, _ = a.update(g, a.init(params))
    ub, _ = b.update(g, b.init(params))
    jax.tree.map(np.testing.assert_allclose, ua, ub)
    with pytest.warns(UserWarning):
        tsx.add_noise(0.1, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="seed"):
            tsx.add_noise(0.1, 0.5, key=1, seed=2)


@pytest.mark.parametrize(
    "kwargs,arg",
    [(dict(eta=-1.0, gamma=0.5), "eta"), (dict(eta=1.0, gamma=-1), "gamma")],
)
def test_bad_arguments_raise(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.add_noise(**kwargs, key=0)
