"""Label smoothing."""


import jax
import jax.numpy as jnp

from tsx.losses._input_checks import check_dtype

__all__ = ["smooth_labels"]


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Mix one-hot labels with the uniform distribution over the classes.

    .. math::
        y' = (1 - \alpha)\, y + \alpha / K

    with :math:`K` the number of classes along ``axis`` (or the number of
    included classes when ``where`` is given).

    Args:
      labels: one-hot labels.
      alpha: the smoothing weight.
      axis: the class axis or axes.
      where: classes to count in :math:`K`.

    Returns:
      the smoothed labels.

    References:
      Szegedy et al., "Rethinking the Inception Architecture for Computer
      Vision", CVPR 2016; Muller, Kornblith and Hinton, "When does label
      smoothing help?", NeurIPS 2019, arXiv:1906.02629.
    """
    check_dtype(labels, jnp.floating, "labels")
    if where is None:
        num_classes = jnp.size(labels, axis)
    else:
        num_classes = jnp.sum(where, axis, keepdims=True)
    return (1.0 - alpha) * labels + alpha / num_classes
