"""Freezing parameters: ``freeze`` and ``selective_transform``."""


from typing import Any

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    set_to_zero,
)
from tsx.transforms._masking import masked
from tsx.transforms._partition import partition
from tsx.validation import (
    MASK,
    TRANSFORMATION,
    hyperparameters,
)

__all__ = ["freeze", "selective_transform"]


@hyperparameters(
    mask=MASK,
)
def freeze(mask: bool | Any) -> GradientTransformationExtraArgs:
    """Zero the updates of the parameters where ``mask`` is True.

    ``mask`` is a static bool (freeze all or nothing) or a tree of bools with
    the params' structure (or a prefix): True freezes that leaf or subtree.
    Other updates pass unchanged. In a chain *after* an optimizer it stops
    the frozen parameters from moving, but the optimizer still keeps state
    for them; :func:`selective_transform` avoids that.

    Args:
      mask: True (freeze everything), False (nothing), or a tree of booleans with
        the params' structure (or a prefix): True freezes that leaf or subtree.

    Returns:
      :func:`~tsx.masked` of :func:`~tsx.set_to_zero` with ``mask``.
    """
    return masked(set_to_zero(), mask)


@hyperparameters(
    optimizer=TRANSFORMATION,
    freeze_mask=MASK,
)
def selective_transform(
    optimizer: GradientTransformation, *, freeze_mask: bool | Any
) -> GradientTransformationExtraArgs:
    """Run ``optimizer`` on the trainable parameters only; zero the frozen ones.

    Leaves (or subtrees) where ``freeze_mask`` is True get zero updates and no
    optimizer state; the others are handled by ``optimizer``, whose state
    holds only them. ``freeze_mask`` is a static bool or a tree of bools with
    the params' structure (or a prefix).

    Args:
      optimizer: the transformation for the trainable parameters.
      freeze_mask: True, False, or a tree of booleans with the params'
        structure (or a prefix): True freezes that leaf or subtree.

    Returns:
      :func:`~tsx.partition` with labels ``"train"`` and ``"freeze"``.
    """

    def labels(params):
        del params
        return jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)

    return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=labels)
