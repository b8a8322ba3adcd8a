"""The issue-2 losses in bfloat16 and float16 match Optax (values and gradients)."""

import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.losses.helpers import assert_same

LOGITS = jax.random.normal(jax.random.PRNGKey(0), (4, 5)) * 3
ONE_HOT = jax.nn.one_hot(jnp.array([0, 2, 3, 4]), 5)


def _all_main_losses(lib, logits, labels):
    losses = lib.losses
    return {
        "softmax_cross_entropy": losses.softmax_cross_entropy(logits, labels),
        "integer_labels": losses.softmax_cross_entropy_with_integer_labels(
            logits, jnp.argmax(labels, -1)
        ),
        "sigmoid_bce": losses.sigmoid_binary_cross_entropy(logits, labels),
        "l2_loss": losses.l2_loss(logits, labels),
        "squared_error": losses.squared_error(logits, labels),
        "huber_loss": losses.huber_loss(logits, labels),
        "cosine_distance": losses.cosine_distance(logits, labels),
        "cosine_similarity": losses.cosine_similarity(logits, labels),
    }


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_main_losses_in_low_precision(dtype):
    logits, labels = LOGITS.astype(dtype), ONE_HOT.astype(dtype)

    def run(lib):
        def total(x):
            return sum(
                v.astype(jnp.float32).sum()
                for v in _all_main_losses(lib, x, labels).values()
            )

        return jax.jit(
            lambda x: (_all_main_losses(lib, x, labels), jax.grad(total)(x))
        )(logits)

    ours, theirs = run(tsx), run(optax)
    # Same low-precision arithmetic: agreement to a couple of ulps.
    assert_same(ours, theirs, rtol=1e-2, atol=1e-2)
