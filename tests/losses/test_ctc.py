"""CTC loss against Optax: values, forward probabilities, gradients, padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.losses.helpers import assert_same, check_loss

B, T, K, N = 3, 7, 5, 4
LOGITS = jax.random.normal(jax.random.PRNGKey(0), (B, T, K)) * 2.0
LOGIT_PAD = jnp.array(
    [[0.0] * 7, [0.0] * 5 + [1.0] * 2, [0.0] * 6 + [1.0]], jnp.float32
)
# Row 1 has a repeated label (needs a blank between), row 2 is padded.
LABELS = jnp.array([[1, 2, 3, 4], [2, 2, 1, 0], [3, 1, 0, 0]])
LABEL_PAD = jnp.array(
    [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]], jnp.float32
)


def test_ctc_loss():
    out = check_loss(
        "ctc_loss", LOGITS, LOGIT_PAD, LABELS, LABEL_PAD, grad_argnums=0, eager=True
    )
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("kwargs", [{"blank_id": 2}, {"log_epsilon": -1e4}])
def test_ctc_loss_options(kwargs):
    check_loss(
        "ctc_loss", LOGITS, LOGIT_PAD, LABELS, LABEL_PAD, grad_argnums=0, **kwargs
    )


def test_ctc_loss_with_forward_probs():
    import optax

    args = (LOGITS, LOGIT_PAD, LABELS, LABEL_PAD)
    got = jax.jit(tsx.losses.ctc_loss_with_forward_probs)(*args)
    want = jax.jit(optax.losses.ctc_loss_with_forward_probs)(*args)
    assert_same(got, want)
    assert got[1].shape == (T, B, N + 1) and got[2].shape == (T, B, N)


def test_ctc_loss_impossible_alignment_and_extreme_logits():
    # Three labels with a repeat need at least 4 frames; 2 are given.
    logits = LOGITS[:, :2].at[0, 0, 1].set(1e4).at[1, 1, 0].set(-1e4)
    labels = jnp.array([[1, 1, 2, 0], [1, 0, 0, 0], [4, 4, 0, 0]])
    pad = jnp.array([[0.0, 0, 0, 1], [0, 1, 1, 1], [0, 0, 1, 1]])
    check_loss("ctc_loss", logits, jnp.zeros((B, 2)), labels, pad, grad_argnums=0)


def test_ctc_loss_bad_shapes():
    with pytest.raises(ValueError):
        tsx.losses.ctc_loss(LOGITS[0], LOGIT_PAD[0], LABELS, LABEL_PAD)
    with pytest.raises(ValueError, match="batch size"):
        tsx.losses.ctc_loss(LOGITS, LOGIT_PAD, LABELS[:2], LABEL_PAD[:2])
    with pytest.raises(ValueError):
        tsx.losses.ctc_loss(LOGITS, LOGIT_PAD, LABELS, LABEL_PAD[:, :2])
