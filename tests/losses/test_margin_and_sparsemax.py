"""Hinge, perceptron and sparsemax losses against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.losses.helpers import check_loss

KEY = jax.random.PRNGKey(0)
SCORES = jax.random.normal(KEY, (6, 4)) * 2.0
LABELS = jnp.array([0, 3, 1, 2, 2, 0])
BINARY_OUT = jax.random.normal(jax.random.PRNGKey(1), (8,)) * 2.0
SIGNS = jnp.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0])


@pytest.mark.parametrize("name", ["hinge_loss", "perceptron_loss"])
def test_binary_margin_losses(name):
    check_loss(name, BINARY_OUT, SIGNS, grad_argnums=0, eager=True)
    check_loss(name, jnp.array([1e4, -1e4, 1.0]), jnp.array([1.0, 1.0, -1.0]))


def test_perceptron_loss_shape_check():
    with pytest.raises(ValueError):
        tsx.losses.perceptron_loss(BINARY_OUT, SIGNS[:3])


@pytest.mark.parametrize(
    "name",
    [
        "multiclass_hinge_loss",
        "multiclass_perceptron_loss",
        "multiclass_sparsemax_loss",
    ],
)
def test_multiclass_losses(name):
    check_loss(name, SCORES, LABELS, grad_argnums=0, eager=True)
    extreme = SCORES.at[0, 1].set(1e4).at[1, 3].set(-1e4)
    check_loss(name, extreme, LABELS, grad_argnums=0)


def test_multiclass_sparsemax_minus_inf_scores():
    scores = SCORES.at[:, 2].set(-jnp.inf)
    check_loss("multiclass_sparsemax_loss", scores, jnp.array([0, 3, 1, 0, 1, 0]))


def test_multiclass_hinge_batch_shapes():
    scores = jax.random.normal(KEY, (2, 3, 5))
    labels = jax.random.randint(KEY, (2, 3), 0, 5)
    check_loss("multiclass_hinge_loss", scores, labels, grad_argnums=0)
    check_loss("multiclass_perceptron_loss", scores, labels, grad_argnums=0)


def test_sparsemax_loss():
    logits = jnp.array([-3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.5, 1e4, -1e4])
    labels = jnp.array([0, 1, 0, 1, 1, 0, 1, 0, 1])
    check_loss("sparsemax_loss", logits, labels, grad_argnums=0, eager=True)
    check_loss("sparsemax_loss", logits, labels.astype(bool), grad_argnums=0)
