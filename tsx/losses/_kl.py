"""Kullback-Leibler divergences between predicted and target distributions."""


import warnings

import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_dtype

__all__ = [
    "convex_kl_divergence",
    "generalized_kl_divergence",
    "kl_divergence",
    "kl_divergence_with_log_targets",
]

Axis = int | tuple[int, ...] | None


def kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence :math:`KL(t \,\|\, p)` of predictions from targets.

    .. math::
        KL(t \,\|\, p) = \sum_i t_i (\log t_i - \log p_i),
        \qquad 0 \log 0 := 0

    Args:
      log_predictions: log-probabilities of the predicted distribution,
        ``[..., dim]`` (log space avoids underflow).
      targets: probabilities of the target distribution, ``[..., dim]``.
      axis: the distribution axis or axes.
      where: entries to include in the sum.

    Returns:
      the divergences, shape ``[...]``.

    References:
      Kullback and Leibler, "On Information and Sufficiency", Ann. Math.
      Statist. 22(1), 1951.
    """
    check_dtype(log_predictions, jnp.floating, "log_predictions")
    check_dtype(targets, jnp.floating, "targets")
    log_targets = jnp.where(targets == 0, 0, jnp.log(targets))
    return jnp.sum(targets * (log_targets - log_predictions), axis=axis, where=where)


def kl_divergence_with_log_targets(
    log_predictions: jax.typing.ArrayLike,
    log_targets: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence with the targets given in log space.

    .. math::
        KL(t \,\|\, p) = \sum_i e^{\log t_i} (\log t_i - \log p_i)

    Args:
      log_predictions: log-probabilities of the prediction, ``[..., dim]``.
      log_targets: log-probabilities of the target, ``[..., dim]``.
      axis: the distribution axis or axes.
      where: entries to include in the sum.

    Returns:
      the divergences, shape ``[...]``.
    """
    check_dtype(log_predictions, jnp.floating, "log_predictions")
    check_dtype(log_targets, jnp.floating, "log_targets")
    terms = jnp.exp(log_targets) * (log_targets - log_predictions)
    return jnp.sum(terms, axis=axis, where=where)


def generalized_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized KL divergence between unnormalized distributions.

    .. math::
        D(t \,\|\, p) = \sum_i t_i (\log t_i - \log p_i) + \sum_i (p_i - t_i)

    the Bregman divergence of :math:`f(x) = x \log x - x`; it equals the KL
    divergence when both sides sum to one.

    Args:
      log_predictions: log of the (unnormalized) prediction, ``[..., dim]``.
      targets: the (unnormalized) target, ``[..., dim]``.
      axis: the axis or axes to sum over.
      where: entries to include in the sums.

    Returns:
      the divergences, shape ``[...]``.

    References:
      Bregman, "The relaxation method of finding the common point of convex
      sets ...", USSR Comput. Math. Math. Phys. 7(3), 1967; Boyd and
      Vandenberghe, *Convex Optimization*, 2004, p. 90.
    """
    kl = kl_divergence(log_predictions, targets, axis=axis, where=where)
    mass_gap = jnp.sum(jnp.exp(log_predictions) - targets, axis=axis, where=where)
    return kl + mass_gap


def convex_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Deprecated alias of :func:`generalized_kl_divergence` (warns when called)."""
    warnings.warn(
        "The function convex_kl_divergence is deprecated. Please use "
        "generalized_kl_divergence instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
