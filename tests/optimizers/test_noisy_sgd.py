"""Noisy SGD against Optax (same key, same noise)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.helpers import schedule
from tests.oracle import compare_with_optax, nested_params


@pytest.mark.parametrize(
    "lr,kwargs",
    [
        (1e-2, {"key": 0}),
        (0.1, {"eta": 0.5, "gamma": 1.0, "key": 3}),
        (schedule, {"key": 7}),
    ],
    ids=["default", "custom", "schedule"],
)
def test_matches_optax(lr, kwargs):
    compare_with_optax(lambda lib: lib.noisy_sgd(lr, **kwargs))


def test_typed_key_matches_optax():
    compare_with_optax(lambda lib: lib.noisy_sgd(1e-2, key=jax.random.key(11)))


def test_noise_variance_anneals():
    # With zero gradients the update is -lr * sigma_t * xi_t.
    params = {"w": jnp.zeros(20000)}
    tx = tsx.noisy_sgd(1.0, eta=4.0, gamma=2.0, key=0)
    state = tx.init(params)
    for t in (1, 2):
        u, state = tx.update({"w": jnp.zeros(20000)}, state, params)
        np.testing.assert_allclose(np.std(u["w"]), 2.0 / t, rtol=0.03)


def test_no_key_warns_like_optax():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tx = tsx.noisy_sgd(1e-2)
    assert caught
    tx.init(nested_params())


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0, "key": 0}, "learning_rate"),
        ({"learning_rate": 0.1, "eta": -0.01, "key": 0}, "eta"),
        ({"learning_rate": 0.1, "gamma": -0.5, "key": 0}, "gamma"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.noisy_sgd(**kwargs)
