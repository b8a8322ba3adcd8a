"""Sparsemax losses: Fenchel-Young losses of the Gini (Tsallis-2) negentropy.

Their prediction map is sparsemax, the Euclidean projection onto the simplex
(sparse_sigmoid in the binary case), and the loss is zero exactly when the
projection equals the one-hot target.
"""


import jax
import jax.numpy as jnp

from tsx.projections import projection_simplex

__all__ = ["multiclass_sparsemax_loss", "sparsemax_loss"]


def sparsemax_loss(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Binary sparsemax loss, zero iff ``sparse_sigmoid(logits) == labels``.

    .. math::
        \ell(x, y) = \operatorname{sparse\_plus}(x \text{ if } y = 0
        \text{ else } -x)

    where ``sparse_plus`` is 0 below -1, :math:`(x + 1)^2 / 4` on
    :math:`[-1, 1]` and :math:`x` above 1.

    Args:
      logits: scores, any shape.
      labels: labels in ``{0, 1}``.

    Returns:
      the element-wise losses.

    References:
      Blondel, Martins and Niculae, "Learning with Fenchel-Young Losses",
      JMLR 21, 2020, section 4.4.
    """
    return jax.nn.sparse_plus(jnp.where(labels, -logits, logits))


def _one_sparsemax_loss(scores: jax.Array, label: jax.Array) -> jax.Array:
    proba = projection_simplex(scores)
    # Scores relative to the true class's (exactly 0 there); entries outside
    # the support are left out so an -inf score there cannot give inf * 0.
    relative = (scores - scores[label]).at[label].set(0.0)
    return jnp.dot(proba, jnp.where(proba, relative, 0.0)) + 0.5 * (
        1.0 - jnp.dot(proba, proba)
    )


def multiclass_sparsemax_loss(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Multiclass sparsemax loss.

    With :math:`p = \operatorname{sparsemax}(s)` (the projection of ``s`` on
    the simplex),

    .. math::
        \ell(s, c) = \langle p, s \rangle - s_c + \tfrac12 (1 - \|p\|^2)

    Args:
      scores: a batch of class scores ``[batch, num_classes]``.
      labels: integer labels ``[batch]``.

    Returns:
      the losses, shape ``[batch]``.

    References:
      Martins and Astudillo, "From Softmax to Sparsemax: A Sparse Model of
      Attention and Multi-Label Classification", ICML 2016, arXiv:1602.02068.
    """
    return jax.vmap(_one_sparsemax_loss)(jnp.asarray(scores), labels)
