"""Dice (Tversky) losses for segmentation."""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_rank, check_same_shape

__all__ = ["binary_dice_loss", "dice_loss", "multiclass_generalized_dice_loss"]


def _reduce_classes(loss: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(loss, axis=-1)
    if reduction == "sum":
        return jnp.sum(loss, axis=-1)
    if reduction == "none":
        return loss
    raise ValueError(f"Unsupported reduction: {reduction}")


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    class_weights: jax.typing.ArrayLike | None = None,
    smooth: jax.typing.ArrayLike = 1.0,
    alpha: jax.typing.ArrayLike = 0.5,
    beta: jax.typing.ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    r"""Soft Dice loss (Tversky loss for ``alpha != beta``), per class then reduced.

    For class :math:`c`, with probabilities :math:`p` and targets :math:`t`
    summed over ``axis``: :math:`I_c = \sum p t`, :math:`P_c = \sum p`,
    :math:`T_c = \sum t` and

    .. math::
        \ell_c = 1 - \frac{I_c + s}{I_c + \alpha (P_c - I_c)
        + \beta (T_c - I_c) + s}

    (:math:`\alpha = \beta = 1/2` is the Dice coefficient; larger
    :math:`\alpha` penalizes false positives, larger :math:`\beta` false
    negatives).

    Args:
      predictions: logits ``[..., num_classes]``, or ``[..., 1]`` / ``[...]``
        for binary segmentation (a sigmoid is used when there is one class).
      targets: one-hot targets shaped like ``predictions`` (a missing trailing
        class axis on either side is added).
      class_weights: optional per-class weights ``[num_classes]``.
      smooth: additive smoothing of numerator and denominator.
      alpha: weight of false positives.
      beta: weight of false negatives.
      apply_softmax: turn logits into probabilities; when False the
        predictions must already sum to 1 over the class axis (checked
        eagerly: a ``ValueError`` otherwise).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` over classes.
      ignore_background: leave class 0 out of the reduction.
      axis: the axes summed over; by default all but the first and last.

    Returns:
      ``[batch]`` for ``"mean"`` / ``"sum"``, ``[batch, num_classes]`` for
      ``"none"``.

    References:
      Milletari, Navab and Ahmadi, "V-Net: Fully Convolutional Neural Networks
      for Volumetric Medical Image Segmentation", 3DV 2016; Salehi et al.,
      "Tversky loss function for image segmentation using 3D fully
      convolutional deep networks", MLMI 2017.
    """
    if predictions.ndim == targets.ndim - 1:
        predictions = predictions[..., None]
    if targets.ndim == predictions.ndim - 1:
        targets = targets[..., None]
    check_same_shape(predictions, targets)

    if not apply_softmax:
        totals = jnp.sum(predictions, axis=-1)
        if not jnp.allclose(totals, 1.0, rtol=1e-5):
            raise ValueError(
                "When apply_softmax=False, predictions must be valid "
                "probability distributions that sum to 1 along the class axis. "
                f"Found sum range: [{jnp.min(totals):.6f}, {jnp.max(totals):.6f}]"
            )
        probs = predictions
    elif predictions.shape[-1] == 1:
        probs = jax.nn.sigmoid(predictions)
    else:
        probs = jax.nn.softmax(predictions, axis=-1)

    if axis is None:
        axis = tuple(range(1, probs.ndim - 1))
    intersection = jnp.sum(probs * targets, axis=axis)
    false_pos = jnp.sum(probs, axis=axis) - intersection
    false_neg = jnp.sum(targets, axis=axis) - intersection
    score = (intersection + smooth) / (
        intersection + alpha * false_pos + beta * false_neg + smooth
    )
    loss = 1.0 - score
    if class_weights is not None:
        check_rank(class_weights, 1)
        loss = loss * class_weights
    if ignore_background and probs.shape[-1] > 1:
        loss = loss[..., 1:]
    return _reduce_classes(loss, reduction)


def multiclass_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
    r"""Generalized Dice loss: Dice with inverse squared class frequencies as weights.

    The weight of class :math:`c` is :math:`w_c \propto 1 / (F_c^2 + 10^{-7})`
    with :math:`F_c` the target mass of the class over the whole batch,
    normalized so that the weights sum to the number of classes; the
    weighted per-class losses are then averaged over batch and classes.

    Args:
      predictions: logits ``[..., num_classes]``.
      targets: one-hot targets of the same shape.
      smooth: additive smoothing.
      apply_softmax: turn logits into probabilities.
      ignore_background: leave class 0 out.

    Returns:
      a scalar loss.

    References:
      Sudre et al., "Generalised Dice overlap as a deep learning loss function
      for highly unbalanced segmentations", DLMIA 2017.
    """
    check_same_shape(predictions, targets)
    frequencies = jnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
    weights = 1.0 / (frequencies**2 + 1e-7)
    weights = weights / jnp.sum(weights) * len(weights)
    per_class = dice_loss(
        predictions,
        targets,
        class_weights=weights,
        smooth=smooth,
        apply_softmax=apply_softmax,
        reduction="none",
        ignore_background=ignore_background,
    )
    return jnp.mean(per_class)


def binary_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
    """Dice loss for binary segmentation (a sigmoid on the logits).

    Args:
      predictions: logits ``[...]`` or ``[..., 1]``.
      targets: binary targets ``[...]`` or ``[..., 1]``.
      smooth: additive smoothing.
      apply_sigmoid: turn logits into probabilities.

    Returns:
      the losses, one per batch entry.
    """
    if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
        predictions = predictions[..., None]
        targets = targets[..., None]
    return dice_loss(
        predictions,
        targets,
        smooth=smooth,
        apply_softmax=apply_sigmoid,
        reduction="mean",
    )
