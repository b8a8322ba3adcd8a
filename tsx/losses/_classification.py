"""Cross-entropy losses for classification: softmax, sigmoid, focal and poly.

All are element-wise (one value per example): reduce them yourself, e.g.
``loss(...).mean()``.
"""


import jax
import jax.numpy as jnp
import jax.scipy.special

from tsx.losses._input_checks import check_dtype, normalize_axes, normalize_axis

__all__ = [
    "poly_loss_cross_entropy",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]

Axis = int | tuple[int, ...] | None


def _mask_like_logits(
    where: jax.typing.ArrayLike | None, logits: jax.Array, axis: Axis
) -> jax.Array | None:
    # A per-example mask (without the class axis) applies to all classes.
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.ndim != jnp.ndim(logits):
        where = jnp.expand_dims(where, axis)
    return where


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Element-wise sigmoid (binary) cross-entropy.

    With :math:`\sigma` the logistic function,

    .. math::
        \ell(x, y) = -y \log \sigma(x) - (1 - y) \log(1 - \sigma(x)),

    computed as ``-y log_sigmoid(x) - (1 - y) log_sigmoid(-x)`` so that it
    stays finite for large ``|x|``. Each entry is an independent binary
    prediction (multi-label classification); ``labels`` may be soft targets in
    ``[0, 1]``.

    Args:
      logits: unnormalized log-odds, any shape.
      labels: targets broadcastable to ``logits`` (cast to its dtype).

    Returns:
      the loss of each binary prediction, shaped like ``logits``.

    References:
      Goodfellow et al., *Deep Learning*, MIT Press 2016, section 3.10.
    """
    check_dtype(logits, jnp.floating, "logits")
    logits = jnp.asarray(logits)
    labels = jnp.astype(labels, logits.dtype)
    return -labels * jax.nn.log_sigmoid(logits) - (1.0 - labels) * jax.nn.log_sigmoid(
        -logits
    )


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy between target distributions and ``softmax(logits)``.

    .. math::
        \ell(x, y) = -\sum_j y_j \log \frac{e^{x_j}}{\sum_k e^{x_k}}

    Args:
      logits: unnormalized log-probabilities, ``[..., num_classes]``.
      labels: target distributions (e.g. one-hot), broadcastable to ``logits``.
      axis: the class axis or axes.
      where: classes to include: shaped like ``logits``, or like the batch
        (then it masks whole examples). Masked classes are left out of both
        the normalizer and the sum, so they may hold ``-inf`` logits.

    Returns:
      the loss of each example, ``logits`` without the ``axis`` dimensions.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.
    """
    check_dtype(logits, jnp.floating, "logits")
    logits = jnp.asarray(logits)
    where = _mask_like_logits(where, logits, axis)
    log_probs = jax.nn.log_softmax(logits, axis, where)
    return -jnp.sum(labels * log_probs, axis=axis, where=where)


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy with the target class given as an integer.

    .. math::
        \ell(x, c) = \log \sum_k e^{x_k} - x_c

    Only the label's logit is subtracted from the normalizer, so no full
    ``log_softmax`` is formed.

    Args:
      logits: unnormalized log-probabilities, ``[..., num_classes]``.
      labels: integer classes in ``[0, num_classes)``, shaped like the batch.
      axis: the class axis, or a tuple of axes whose flattened (row-major)
        slice holds the classes; a label is then a flat index into it.
      where: classes to include (shaped like ``logits``, or like the batch).
        Examples with no class included get a loss of 0.

    Returns:
      the loss of each example, shaped like ``labels``.

    Raises:
      ValueError: ``axis`` is neither an int nor a tuple of ints.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.
    """
    check_dtype(logits, jnp.floating, "logits")
    check_dtype(labels, jnp.integer, "labels")
    logits = jnp.asarray(logits)
    where = _mask_like_logits(where, logits, axis)
    if isinstance(axis, int):
        axis = normalize_axis(axis, logits.ndim)
    elif isinstance(axis, tuple):
        # Gather the class axes at the end (keeping their order) and flatten
        # them into one, so a label indexes the flattened slice.
        class_axes = normalize_axes(axis, logits.ndim)
        batch_axes = tuple(a for a in range(logits.ndim) if a not in class_axes)
        order = batch_axes + class_axes
        flat_shape = tuple(logits.shape[a] for a in batch_axes) + (-1,)
        logits = logits.transpose(order).reshape(flat_shape)
        if where is not None:
            where = where.transpose(order).reshape(
                tuple(where.shape[a] for a in batch_axes) + (-1,)
            )
        axis = len(batch_axes)
    else:
        raise ValueError(
            "Keyword argument 'axis' must be of type 'int' or 'tuple[int, ...]' "
            f"but actual type is {type(axis)}."
        )
    label_logits = jnp.take_along_axis(
        logits, jnp.expand_dims(labels, axis), axis=axis
    ).take(0, axis=axis)
    loss = jax.nn.logsumexp(logits, axis=axis, where=where) - label_logits
    if where is not None:
        loss = jnp.where(jnp.any(where, axis), loss, 0.0)
    return loss


def _weighted_log_softmax_value(x: jax.Array, w: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(x, axis=-1)
    # 0 * log 0 := 0, so a zero weight silences a -inf logit.
    return jnp.where(w != 0.0, w * log_p, jnp.zeros_like(log_p))


@jax.custom_jvp
def _weighted_log_softmax(x: jax.Array, w: jax.Array) -> jax.Array:
    return _weighted_log_softmax_value(x, w)


@_weighted_log_softmax.defjvp
def _weighted_log_softmax_jvp(primals, tangents):
    x, w = primals
    dx, dw = tangents
    # d[w log_softmax(x)] = w (dx - <softmax(x), dx>) + dw log_softmax(x); the
    # explicit form avoids the inf * 0 that autodiff of the where would give.
    out = _weighted_log_softmax_value(x, w)
    mean_dx = jnp.sum(dx * jax.nn.softmax(x, axis=-1), axis=-1, keepdims=True)
    dout = w * dx - w * mean_dx + dw * jax.nn.log_softmax(x, axis=-1)
    return out, dout


def safe_softmax_cross_entropy(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Softmax cross-entropy that treats ``0 * log 0`` as 0.

    Same value as :func:`softmax_cross_entropy`, except that classes with a
    zero label contribute exactly 0 (and a zero gradient) even when their
    logit is ``-inf``.

    Args:
      logits: unnormalized log-probabilities, ``[..., num_classes]``.
      labels: target distributions broadcastable to ``logits``.

    Returns:
      the loss of each example, shape ``[...]``.
    """
    check_dtype(logits, jnp.floating, "logits")
    return -jnp.sum(_weighted_log_softmax(logits, labels), axis=-1)


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 loss: cross-entropy plus ``epsilon`` times ``1 - p_t``.

    .. math::
        L_{\text{Poly-1}} = -\log p_t + \epsilon (1 - p_t), \qquad
        1 - p_t = \sum_j y_j (1 - \operatorname{softmax}(x)_j)

    (the first term of the Taylor expansion of cross-entropy in powers of
    ``1 - p_t``, with its coefficient shifted by ``epsilon``).

    Args:
      logits: unnormalized log-probabilities, ``[..., num_classes]``.
      labels: target distributions broadcastable to ``logits``.
      epsilon: weight of the extra polynomial term (the paper suggests 2 for
        ImageNet classification, -1 for detection).
      axis: the class axis or axes.
      where: classes to include (shaped like ``logits``).

    Returns:
      the loss of each example, shape ``[...]``.

    References:
      Leng et al., "PolyLoss: A Polynomial Expansion Perspective of
      Classification Loss Functions", ICLR 2022, arXiv:2204.12511.
    """
    check_dtype(logits, jnp.floating, "logits")
    check_dtype(labels, jnp.floating, "labels")
    probs = jax.nn.softmax(logits, axis=axis, where=where)
    one_minus_pt = jnp.sum(labels * (1 - probs), axis=axis, where=where)
    ce = softmax_cross_entropy(logits, labels, axis=axis, where=where)
    return ce + epsilon * one_minus_pt


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = None,
    gamma: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
    r"""Element-wise sigmoid focal loss.

    .. math::
        FL = -\alpha_t (1 - p_t)^\gamma \log p_t

    with :math:`p = \sigma(x)`, :math:`p_t = y p + (1 - y)(1 - p)` and
    :math:`\alpha_t = y \alpha + (1 - y)(1 - \alpha)` (no weighting when
    ``alpha`` is None). The factor :math:`(1 - p_t)^\gamma` is computed in log
    space, :math:`\exp(\gamma \log((1 - y) p + y (1 - p)))` with a weighted
    log-sum-exp, which stays finite for extreme logits and ``gamma < 1``;
    soft labels in ``[0, 1]`` are allowed.

    Args:
      logits: unnormalized log-odds, any shape.
      labels: targets broadcastable to ``logits``.
      alpha: optional weight of the positive class, in ``(0, 1)``.
      gamma: focusing exponent (0 gives the sigmoid cross-entropy).

    Returns:
      the loss of each prediction, shaped like ``logits``.

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017,
      arXiv:1708.02002.
    """
    check_dtype(logits, jnp.floating, "logits")
    logits = jnp.asarray(logits)
    labels = jnp.astype(labels, logits.dtype)
    ce = sigmoid_binary_cross_entropy(logits, labels)
    log_p = jax.nn.log_sigmoid(logits)
    log_not_p = jax.nn.log_sigmoid(-logits)
    log_one_minus_pt = jax.scipy.special.logsumexp(
        jnp.stack([log_p, log_not_p], axis=-1),
        axis=-1,
        b=jnp.stack([1 - labels, labels], axis=-1),
    )
    loss = ce * jnp.exp(gamma * log_one_minus_pt)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss
