"""Dice losses against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.losses.helpers import check_loss

KEY = jax.random.PRNGKey(0)
LOGITS = jax.random.normal(KEY, (2, 4, 4, 3)) * 2.0
TARGETS = jax.nn.one_hot(jax.random.randint(KEY, (2, 4, 4), 0, 3), 3)
BIN_LOGITS = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5))
BIN_TARGETS = (jax.random.uniform(KEY, (2, 5, 5)) > 0.5).astype(jnp.float32)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"alpha": 0.3, "beta": 0.7, "smooth": 0.1},
        {"reduction": "sum"},
        {"reduction": "none", "ignore_background": True},
        {"class_weights": jnp.array([0.2, 1.0, 3.0])},
        {"axis": (1,)},
    ],
)
def test_dice_loss(kwargs):
    check_loss("dice_loss", LOGITS, TARGETS, grad_argnums=0, **kwargs)


def test_dice_loss_eager_probabilities_and_extremes():
    probs = jax.nn.softmax(LOGITS)
    check_loss("dice_loss", probs, TARGETS, apply_softmax=False, eager=True, jit=False)
    check_loss("dice_loss", LOGITS * 1e4, TARGETS, grad_argnums=0, eager=True)
    with pytest.raises(ValueError, match="sum to 1"):
        tsx.losses.dice_loss(LOGITS, TARGETS, apply_softmax=False)
    with pytest.raises(ValueError, match="reduction"):
        tsx.losses.dice_loss(LOGITS, TARGETS, reduction="max")


def test_dice_loss_binary_shapes():
    check_loss("dice_loss", BIN_LOGITS, BIN_TARGETS, grad_argnums=0)
    check_loss("dice_loss", BIN_LOGITS[..., None], BIN_TARGETS, grad_argnums=0)


def test_binary_dice_loss():
    check_loss("binary_dice_loss", BIN_LOGITS, BIN_TARGETS, grad_argnums=0, eager=True)
    check_loss(
        "binary_dice_loss", BIN_LOGITS[..., None], BIN_TARGETS[..., None], smooth=0.5
    )


@pytest.mark.parametrize("kwargs", [{}, {"ignore_background": True, "smooth": 0.5}])
def test_multiclass_generalized_dice_loss(kwargs):
    check_loss(
        "multiclass_generalized_dice_loss", LOGITS, TARGETS, grad_argnums=0, **kwargs
    )
