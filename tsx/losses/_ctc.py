"""Connectionist temporal classification (CTC) loss.

The forward (alpha) recursion runs over time with two families of states for
a label sequence ``y_1..y_N``:

* ``phi[n]`` (n = 0..N): ``n`` labels emitted, the path may now emit a blank
  or move on to ``y_{n+1}``;
* ``emit[n]`` (n = 0..N-1): the last frame emitted ``y_{n+1}``.

Per frame, in log space: first the free move ``emit[n] -> phi[n+1]`` (not
allowed between two equal labels, which need a blank in between), then
``emit[n] <- (phi[n] or emit[n]) + log p(y_{n+1})``, ``phi <- phi + log
p(blank)`` and, for repeated labels, ``phi[n+1] <- emit[n] + log p(blank)``.
Impossible transitions get ``log_epsilon`` (a finite stand-in for log 0) so
that gradients stay finite. Padded frames leave the states unchanged.

References:
  Graves et al., "Connectionist temporal classification: labelling
  unsegmented sequence data with recurrent neural networks", ICML 2006.
"""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_rank, check_same_shape

__all__ = ["ctc_loss", "ctc_loss_with_forward_probs"]


def _merge_into_next(phi: jax.Array, incoming: jax.Array) -> jax.Array:
    # phi[n + 1] <- logaddexp(phi[n + 1], incoming[n]); phi[0] has no source.
    return jnp.concatenate([phi[:, :1], jnp.logaddexp(phi[:, 1:], incoming)], axis=-1)


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""CTC loss and the forward log-probabilities of the alignment states.

    The loss of a sequence is :math:`-\log p(y \mid x)`, the negative log of
    the total probability of all frame-level alignments (labels with blanks
    inserted and repeats merged) that reduce to ``y``.

    Args:
      logits: ``[B, T, K]`` class logits per frame (the blank included).
      logit_paddings: ``[B, T]``, 1.0 on padded frames and 0.0 elsewhere.
      labels: ``[B, N]`` integer label sequences.
      label_paddings: ``[B, N]``, 1.0 on padded labels; the padding must be on
        the right of each row.
      blank_id: the class index of the blank.
      log_epsilon: finite stand-in for :math:`\log 0`.

    Returns:
      ``(loss, logalpha_blank, logalpha_nonblank)``: the ``[B]`` losses and
      the ``[T, B, N + 1]`` and ``[T, B, N]`` log forward probabilities of the
      blank (``phi``) and label (``emit``) states after each frame.

    Raises:
      ValueError: for inconsistent ranks, shapes or batch sizes.
    """
    check_rank(logits, 3)
    check_rank(labels, 2)
    check_same_shape(labels, label_paddings)
    check_same_shape(logits[..., 0], logit_paddings)
    batch, _, num_classes = logits.shape
    label_batch, max_label_len = labels.shape
    if label_batch != batch:
        raise ValueError(
            f"Expected `labels` to have batch size {batch}, got {label_batch}."
        )

    log_probs = jax.nn.log_softmax(logits)
    label_lens = max_label_len - jnp.sum(label_paddings, axis=1).astype(jnp.int32)
    # repeat[b, n] = 1 when y_{n+1} == y_{n+2}: no free move between them.
    repeat = (labels[:, :-1] == labels[:, 1:]).astype(jnp.float32)
    repeat = jnp.pad(repeat, ((0, 0), (0, 1)))

    # Time-major per-frame log-probabilities of the blank and of each label.
    blank_lp = jnp.transpose(log_probs[:, :, blank_id : blank_id + 1], (1, 0, 2))
    one_hot_labels = jax.nn.one_hot(labels, num_classes=num_classes)
    label_lp = jnp.transpose(
        jnp.einsum("btk,bnk->btn", log_probs, one_hot_labels), (1, 0, 2)
    )

    phi0 = (jnp.ones((batch, max_label_len + 1)) * log_epsilon).at[:, 0].set(0.0)
    emit0 = jnp.ones((batch, max_label_len)) * log_epsilon

    def step(carry, frame):
        phi, emit = carry
        emit_lp, blank, pad = frame
        moved = _merge_into_next(phi, emit + log_epsilon * repeat)
        new_emit = jnp.logaddexp(moved[:, :-1] + emit_lp, emit + emit_lp)
        new_phi = _merge_into_next(
            moved + blank, emit + blank + log_epsilon * (1.0 - repeat)
        )
        pad = pad.reshape((batch, 1))
        new_emit = pad * emit + (1.0 - pad) * new_emit
        new_phi = pad * phi + (1.0 - pad) * new_phi
        return (new_phi, new_emit), (new_phi, new_emit)

    frames = (label_lp, blank_lp, jnp.transpose(logit_paddings, (1, 0)))
    _, (logalpha_phi, logalpha_emit) = jax.lax.scan(step, (phi0, emit0), frames)

    # After the last frame, a path ending on a label may still take the free
    # move to the final phi state.
    final_phi = _merge_into_next(logalpha_phi[-1], logalpha_emit[-1])
    logalpha_phi = logalpha_phi.at[-1].set(final_phi)

    end_state = jax.nn.one_hot(label_lens, num_classes=max_label_len + 1)
    loss = -jnp.einsum("bn,bn->b", final_phi, end_state)
    return loss, logalpha_phi, logalpha_emit


def ctc_loss(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> jax.Array:
    r"""CTC loss :math:`-\log p(y \mid x)` of each sequence in a batch.

    See :func:`ctc_loss_with_forward_probs` for the arguments and the
    recursion.

    Args:
      logits: ``[B, T, K]`` unnormalised log-probabilities over ``K`` classes.
      logit_paddings: ``[B, T]``, 1.0 at padded frames, 0.0 elsewhere.
      labels: ``[B, N]`` integer labels.
      label_paddings: ``[B, N]``, 1.0 at padded labels, 0.0 elsewhere.
      blank_id: the class index of the blank (default 0).
      log_epsilon: the log-probability used for impossible transitions.

    Returns:
      the ``[B]`` losses.
    """
    loss, _, _ = ctc_loss_with_forward_probs(
        logits,
        logit_paddings,
        labels,
        label_paddings,
        blank_id=blank_id,
        log_epsilon=log_epsilon,
    )
    return loss
