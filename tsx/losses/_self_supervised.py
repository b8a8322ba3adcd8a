"""Self-supervised (metric learning) losses: NT-Xent and triplet margin."""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_dtype
from tsx.losses._regression import cosine_similarity

__all__ = ["ntxent", "triplet_margin_loss"]


def ntxent(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    temperature: jax.typing.ArrayLike = 0.07,
) -> jax.Array:
    r"""Normalized temperature-scaled cross-entropy (NT-Xent, the SimCLR loss).

    With :math:`s_{ij} = \cos(z_i, z_j) / \tau`, :math:`P` the ordered pairs
    ``i != j`` with equal labels and :math:`N(i)` the items whose label
    differs from ``i``'s:

    .. math::
        L = -\frac{1}{|P|} \sum_{(i, j) \in P}
        \log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N(i)} e^{s_{ik}}}

    (each row shifted by its largest off-diagonal similarity for stability).

    Args:
      embeddings: ``[batch, dim]`` embeddings.
      labels: ``[batch]`` group ids; items sharing an id are positive pairs.
      temperature: the temperature :math:`\tau`.

    Returns:
      the scalar loss, averaged over positive pairs.

    Raises:
      ValueError: ``labels`` and ``embeddings`` differ in leading dimension.

    References:
      Chen et al., "A Simple Framework for Contrastive Learning of Visual
      Representations", ICML 2020, arXiv:2002.05709.
    """
    check_dtype(embeddings, jnp.floating, "embeddings")
    embeddings = jnp.asarray(embeddings)
    labels = jnp.asarray(labels)
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            "Labels and embeddings must have the same leading dimension, found"
            f" {labels.shape[0]} for labels and {embeddings.shape[0]} for"
            " embeddings."
        )
    sims = (
        cosine_similarity(
            embeddings[None, :, :],
            embeddings[:, None, :],
            epsilon=jnp.finfo(embeddings.dtype).eps,
        )
        / temperature
    )
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(same.shape[0], dtype=bool)
    negative = ~same
    neg_sims = jnp.where(negative, sims, -jnp.inf)
    pos_sims = jnp.where(positive, sims, -jnp.inf)
    row_max = jax.lax.stop_gradient(
        jnp.max(jnp.concatenate((neg_sims, pos_sims), axis=-1), axis=1, keepdims=True)
    )
    pos_shifted = pos_sims - row_max
    neg_mass = jnp.sum(jnp.exp(neg_sims - row_max), axis=1, keepdims=True)
    log_ratio = pos_shifted - jnp.log(neg_mass + jnp.exp(pos_shifted))
    return -jnp.where(positive, log_ratio, 0.0).sum() / positive.sum()


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    axis: int = -1,
    norm_degree: jax.typing.ArrayLike = 2,
    margin: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
    r"""Triplet margin loss :math:`\max(d(a, p) - d(a, n) + m, 0)`.

    The distance is :math:`d(x, y) = (\sum_i (x_i - y_i)^q + \epsilon)^{1/q}`
    with :math:`q` = ``norm_degree`` (the differences are raised to ``q``
    as they are, so use an even degree).

    Args:
      anchors: ``[batch, dim]`` anchor embeddings.
      positives: ``[batch, dim]`` embeddings similar to the anchors.
      negatives: ``[batch, dim]`` embeddings dissimilar to the anchors.
      axis: the embedding axis.
      norm_degree: the degree :math:`q`.
      margin: the margin :math:`m`.
      eps: added inside the root for a finite gradient at zero distance.

    Returns:
      the ``[batch]`` losses.

    References:
      Balntas et al., "Learning local feature descriptors with triplets and
      shallow convolutional neural networks", BMVC 2016.
    """
    check_dtype(anchors, jnp.floating, "anchors")
    check_dtype(positives, jnp.floating, "positives")
    check_dtype(negatives, jnp.floating, "negatives")

    def distance(x, y):
        return jnp.power(jnp.power(x - y, norm_degree).sum(axis) + eps, 1 / norm_degree)

    return jnp.maximum(
        distance(anchors, positives) - distance(anchors, negatives) + margin, 0
    )
