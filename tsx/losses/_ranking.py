"""Listwise ranking losses over the last axis (leading axes are batch axes)."""


from collections.abc import Callable

import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_dtype

__all__ = ["ranking_softmax_loss"]


def _reduce_lists(
    losses: jax.Array,
    where: jax.Array | None,
    reduce_fn: Callable[..., jax.typing.ArrayLike] | None,
) -> jax.Array:
    if reduce_fn is None:
        # Unreduced: zero the masked lists, so summing by hand matches
        # reduce_fn=jnp.sum.
        return losses if where is None else jnp.where(where, losses, 0.0)
    out = reduce_fn(losses, where=where)
    if reduce_fn is jnp.mean:
        # A mean over zero valid lists is 0/0: report 0, unless a NaN came
        # from the losses themselves.
        no_nan_input = jnp.logical_not(jnp.any(jnp.isnan(losses)))
        out = jnp.where(jnp.isnan(out) & no_nan_input, 0.0, out)
    return out


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
    weights: jax.typing.ArrayLike | None = None,
    reduce_fn: Callable[..., jax.typing.ArrayLike] | None = jnp.mean,
) -> jax.Array:
    r"""Listwise softmax cross-entropy between item scores and relevance labels.

    .. math::
        \ell(s, y) = -\sum_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    Args:
      logits: item scores ``[..., list_size]``.
      labels: relevance labels ``[..., list_size]``.
      where: valid items ``[..., list_size]``; invalid ones are left out of
        the softmax and the sum, and lists with no valid item are left out of
        the reduction.
      weights: per-item weights multiplying the labels.
      reduce_fn: ``jnp.mean``, ``jnp.sum``, or None for one loss per list.

    Returns:
      the reduced loss, or the ``[...]`` per-list losses.

    References:
      Cao et al., "Learning to rank: from pairwise approach to listwise
      approach", ICML 2007; Bruch et al., "An Analysis of the Softmax Cross
      Entropy Loss for Learning-to-Rank with Binary Relevance", ICTIR 2019.
    """
    check_dtype(logits, jnp.floating, "logits")
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels).astype(logits.dtype)
    if where is not None:
        labels = jnp.where(where, labels, jnp.zeros_like(labels))
        logits = jnp.where(where, logits, -jnp.ones_like(logits) * jnp.inf)
    if weights is not None:
        labels *= weights
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    losses = -jnp.sum(labels * log_probs, axis=-1, where=where)
    list_valid = None if where is None else jnp.any(where, axis=-1)
    return _reduce_lists(losses, list_valid, reduce_fn)
