"""Regression losses against Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.losses.helpers import check_loss

KEY = jax.random.PRNGKey(0)
PRED = jax.random.normal(KEY, (3, 4)) * 2.0
TARGET = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
BIG = jnp.array([1e4, -1e4, 1e-7, 0.0, 50.0, -3.0])


@pytest.mark.parametrize("name", ["squared_error", "l2_loss", "huber_loss", "log_cosh"])
def test_elementwise_losses(name):
    check_loss(name, PRED, TARGET, grad_argnums=(0, 1), eager=True)
    check_loss(name, PRED, grad_argnums=0)  # targets default to zeros
    out = check_loss(name, BIG, jnp.zeros_like(BIG), grad_argnums=0)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("delta", [0.1, 2.0])
def test_huber_delta(delta):
    check_loss("huber_loss", PRED, TARGET, delta=delta, grad_argnums=0)


def test_squared_error_checks():
    with pytest.raises(ValueError):
        tsx.losses.squared_error(PRED, TARGET[0])
    with pytest.raises(TypeError):
        tsx.losses.squared_error(jnp.arange(3))
    with pytest.raises(TypeError):
        tsx.losses.log_cosh(jnp.arange(3))


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("cosine_similarity", {}),
        ("cosine_similarity", {"epsilon": 0.1}),
        ("cosine_similarity", {"axis": 0}),
        ("cosine_similarity", {"axis": (0, 1)}),
        ("cosine_distance", {"axis": 0, "epsilon": 0.1}),
        (
            "cosine_distance",
            {"where": jax.random.bernoulli(KEY, 0.6, (3, 4)).at[:, 0].set(True)},
        ),
    ],
)
def test_cosine(name, kwargs):
    check_loss(name, PRED, TARGET, grad_argnums=(0, 1), **kwargs)


def test_cosine_zero_vectors_and_extremes():
    pred = jnp.array([[0.0, 0.0, 0.0], [1e4, -1e4, 1.0], [1e-20, 0.0, 0.0]])
    target = jnp.array([[1.0, 2.0, 3.0], [1e4, 1e4, 0.0], [1.0, 0.0, 0.0]])
    check_loss("cosine_similarity", pred, target, eager=True)
    check_loss("cosine_distance", pred, target, epsilon=1e-8, grad_argnums=0)
