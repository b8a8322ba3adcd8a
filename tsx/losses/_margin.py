"""Margin losses for linear classifiers: hinge and perceptron, binary and multiclass."""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_same_shape

__all__ = [
    "hinge_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "perceptron_loss",
]


def _label_scores(scores: jax.Array, one_hot: jax.Array) -> jax.Array:
    # <scores, one_hot> over the last axis: the score of the true class.
    return jnp.vectorize(jnp.dot, signature="(n),(n)->()")(scores, one_hot)


def hinge_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
    r"""Binary hinge loss :math:`\max(0, 1 - s\,y)` for targets :math:`y \in \{-1, 1\}`.

    Args:
      predictor_outputs: decision values ``s``.
      targets: labels in ``{-1, 1}``.

    Returns:
      the element-wise losses.

    References:
      Cortes and Vapnik, "Support-vector networks", Machine Learning 20, 1995.
    """
    return jnp.maximum(0, 1 - predictor_outputs * targets)


def perceptron_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
    r"""Binary perceptron loss :math:`\max(0, -s\,y)` for :math:`y \in \{-1, 1\}`.

    Args:
      predictor_outputs: decision values ``s``.
      targets: labels in ``{-1, 1}``, shaped like ``predictor_outputs``.

    Returns:
      the element-wise losses.

    References:
      Rosenblatt, "The perceptron: a probabilistic model for information
      storage and organization in the brain", Psychological Review 65, 1958.
    """
    check_same_shape(predictor_outputs, targets)
    return jnp.maximum(0, -predictor_outputs * targets)


def multiclass_hinge_loss(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Multiclass hinge loss (Crammer-Singer).

    .. math::
        \ell(s, c) = \max_j \,(s_j + 1[j \ne c]) - s_c

    Args:
      scores: class scores ``[..., num_classes]``.
      labels: integer labels ``[...]``.

    Returns:
      the losses, shape ``[...]``.

    References:
      Crammer and Singer, "On the algorithmic implementation of multiclass
      kernel-based vector machines", JMLR 2, 2001.
    """
    scores = jnp.asarray(scores)
    one_hot = jax.nn.one_hot(labels, scores.shape[-1])
    return jnp.max(scores + 1.0 - one_hot, axis=-1) - _label_scores(scores, one_hot)


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Multiclass perceptron loss :math:`\max_j s_j - s_c`.

    Args:
      scores: class scores ``[..., num_classes]``.
      labels: integer labels ``[...]``.

    Returns:
      the losses, shape ``[...]``.

    References:
      Collins, "Discriminative training methods for hidden Markov models:
      theory and experiments with perceptron algorithms", EMNLP 2002.
    """
    scores = jnp.asarray(scores)
    one_hot = jax.nn.one_hot(labels, scores.shape[-1])
    return jnp.max(scores, axis=-1) - _label_scores(scores, one_hot)
