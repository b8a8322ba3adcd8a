"""Regression losses: squared error, l2, Huber, log-cosh and cosine losses."""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_dtype, check_same_shape

__all__ = [
    "cosine_distance",
    "cosine_similarity",
    "huber_loss",
    "l2_loss",
    "log_cosh",
    "squared_error",
]

Axis = int | tuple[int, ...] | None


def _errors(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None
) -> jax.Array:
    return predictions - targets if targets is not None else predictions


def squared_error(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    r"""Element-wise squared error :math:`(\hat y - y)^2`.

    ``squared_error(p, t).mean()`` is the mean squared error.

    Args:
      predictions: predictions, any shape.
      targets: targets of the same shape; zeros when omitted.

    Returns:
      the squared errors, shaped like ``predictions``.
    """
    check_dtype(predictions, jnp.floating, "predictions")
    if targets is not None:
        check_same_shape(predictions, targets)
    return _errors(predictions, targets) ** 2


def l2_loss(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    r"""Element-wise half squared error :math:`\tfrac12 (\hat y - y)^2`.

    The factor 1/2 (as in Bishop, *Pattern Recognition and Machine Learning*,
    2006) makes the gradient the plain residual.

    Args:
      predictions: predictions, any shape.
      targets: targets of the same shape; zeros when omitted.

    Returns:
      the losses, shaped like ``predictions``.
    """
    return 0.5 * squared_error(jnp.asarray(predictions), targets)


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Element-wise Huber loss: quadratic near 0, linear beyond ``delta``.

    .. math::
        \ell(e) = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
        \delta (|e| - \tfrac12 \delta) & |e| > \delta \end{cases}

    Its gradient is the l2 loss gradient clipped to ``[-delta, delta]``.

    Args:
      predictions: predictions, any shape.
      targets: targets broadcastable to ``predictions``; zeros when omitted.
      delta: where the loss turns from quadratic to linear.

    Returns:
      the losses, shaped like ``predictions``.

    References:
      Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist.
      35(1), 1964.
    """
    check_dtype(predictions, jnp.floating, "predictions")
    abs_errors = jnp.abs(_errors(predictions, targets))
    quadratic_part = jnp.minimum(abs_errors, delta)
    linear_part = abs_errors - quadratic_part
    return 0.5 * quadratic_part**2 + delta * linear_part


def log_cosh(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    r"""Element-wise log-cosh loss :math:`\log\cosh(\hat y - y)`.

    About :math:`e^2 / 2` for small errors and :math:`|e| - \log 2` for large
    ones: a twice-differentiable alternative to the Huber loss. Computed as
    ``logaddexp(e, -e) - log 2``, which does not overflow.

    Args:
      predictions: predictions, any shape.
      targets: targets broadcastable to ``predictions``; zeros when omitted.

    Returns:
      the losses, shaped like ``predictions``.

    References:
      Chen et al., "Log Hyperbolic Cosine Loss Improves Variational
      Auto-Encoder", 2019, https://openreview.net/pdf?id=rkglvsC9Ym
    """
    check_dtype(predictions, jnp.floating, "predictions")
    e = _errors(predictions, targets)
    return jnp.logaddexp(e, -e) - jnp.log(2.0).astype(e.dtype)


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine of the angle between predictions and targets along ``axis``.

    .. math::
        \cos(a, b) = \Big\langle \frac{a}{\sqrt{\max(\|a\|^2, \epsilon)}},
        \frac{b}{\sqrt{\max(\|b\|^2, \epsilon)}} \Big\rangle

    Args:
      predictions: vectors ``[..., dim]``.
      targets: vectors ``[..., dim]``.
      epsilon: lower bound on each squared norm in the denominators.
      axis: the vector axis or axes.
      where: entries to include in the norms and the inner product.

    Returns:
      the similarities, shape ``[...]``.
    """
    check_dtype(predictions, jnp.floating, "predictions")
    check_dtype(targets, jnp.floating, "targets")
    a, b = jnp.asarray(predictions), jnp.asarray(targets)
    a_sq = jnp.sum(jnp.square(a), axis=axis, where=where, keepdims=True)
    b_sq = jnp.sum(jnp.square(b), axis=axis, where=where, keepdims=True)
    a_unit = a / jnp.sqrt(jnp.clip(a_sq, epsilon))
    b_unit = b / jnp.sqrt(jnp.clip(b_sq, epsilon))
    return jnp.sum(a_unit * b_unit, axis=axis, where=where)


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine distance :math:`1 - \cos(a, b)` along ``axis``.

    Args:
      predictions: vectors ``[..., dim]``.
      targets: vectors ``[..., dim]``.
      epsilon: lower bound on each squared norm (see
        :func:`cosine_similarity`).
      axis: the vector axis or axes.
      where: entries to include.

    Returns:
      the distances, shape ``[...]``.
    """
    check_dtype(predictions, jnp.floating, "predictions")
    check_dtype(targets, jnp.floating, "targets")
    return 1.0 - cosine_similarity(
        predictions, targets, epsilon=epsilon, axis=axis, where=where
    )
