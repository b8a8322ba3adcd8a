"""Routing parameters to their own transformations: ``partition``, ``multi_transform``.

Two ways to say which parameter goes where:

* Optax's form, ``partition(transforms, param_labels)``: a dict from labels to
  transformations, and a tree of labels shaped like the params (or a prefix
  of them), or a function ``params -> labels``;
* tsx's form, ``partition(condition=..., true_gradient_transform=...,
  false_gradient_transform=...)``: a predicate ``condition(path, param)`` on
  each leaf, its path as given by :func:`jax.tree_util.tree_map_with_path`.
  It is the Optax form with the labels ``True`` and ``False``, so its state
  is the one ``partition({True: ..., False: ...}, labels)`` would have.
"""


from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)
from tsx.transforms._masking import masked
from tsx.validation import (
    BOOL,
    FUNCTION,
    TRANSFORMATION,
    check_transformation,
    hyperparameters,
    optional,
)

__all__ = ["MultiTransformState", "PartitionState", "multi_transform", "partition"]


class PartitionState(NamedTuple):
    """State of :func:`partition`: each label's (masked) inner state, by label."""

    inner_states: Mapping[Hashable, OptState]


MultiTransformState = PartitionState


def _check_labels(labels: Any, keys: Any, where: str) -> None:
    used = set(jax.tree.leaves(labels))
    missing = used - set(keys)
    if missing:
        raise ValueError(
            f"{where}: some parameters have labels with no transformation: "
            f"{sorted(map(repr, missing))}; the labels used are "
            f"{sorted(map(repr, used))} and the transforms' keys are "
            f"{sorted(map(repr, keys))}."
        )


def _labelled_partition(
    transforms: Mapping[Hashable, GradientTransformation],
    label_fn: Callable[[Any, Any], Any],
    mask_compatible_extra_args: bool,
) -> GradientTransformationExtraArgs:
    """The partition itself; ``label_fn(updates, params)`` returns the label tree."""
    txs = {k: with_extra_args_support(v) for k, v in transforms.items()}

    def masked_for(labels, label):
        # One masked view per label; a leaf belongs to the label it equals.
        mask = jax.tree.map(lambda lab: lab == label, labels)
        return masked(
            txs[label], mask, mask_compatible_extra_args=mask_compatible_extra_args
        )

    def init_fn(params):
        labels = label_fn(params, params)
        _check_labels(labels, txs.keys(), "partition")
        return PartitionState(
            {label: masked_for(labels, label).init(params) for label in txs}
        )

    def update_fn(updates, state, params=None, **extra_args):
        labels = label_fn(updates, params)
        new_states = {}
        for label in txs:
            updates, new_states[label] = masked_for(labels, label).update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, PartitionState(new_states)

    return GradientTransformationExtraArgs(init_fn, update_fn)


@hyperparameters(
    mask_compatible_extra_args=BOOL,
    condition=optional(FUNCTION),
    true_gradient_transform=optional(TRANSFORMATION),
    false_gradient_transform=optional(TRANSFORMATION),
)
def partition(
    transforms: Mapping[Hashable, GradientTransformation] | None = None,
    param_labels: Any | Callable[[Any], Any] | None = None,
    *,
    mask_compatible_extra_args: bool = False,
    condition: Callable[[Any, Any], bool] | None = None,
    true_gradient_transform: GradientTransformation | None = None,
    false_gradient_transform: GradientTransformation | None = None,
) -> GradientTransformationExtraArgs:
    """Apply a different transformation to each group of parameters.

    Optax's form, ``partition(transforms, param_labels)``: ``transforms`` maps
    labels to transformations and ``param_labels`` is a tree of labels with
    the params' structure (or a prefix of it), or a function returning one
    from the params (it is called on the updates in ``update``). Every label
    used must be a key of ``transforms``. Each transformation sees only its
    parameters (through :func:`~tsx.masked`), so its state holds only those.

    tsx's form, ``partition(condition=fn, true_gradient_transform=a,
    false_gradient_transform=b)``: ``fn(path, param) -> bool`` is applied to
    every leaf of the params with :func:`jax.tree_util.tree_map_with_path`;
    leaves where it holds go to ``a``, the others to ``b``. The condition must
    return a Python (static) bool, e.g. from ``param.ndim`` or the path.

    Args:
      transforms: labels to transformations (Optax's form).
      param_labels: the label tree, or a function ``params -> label tree``.
      mask_compatible_extra_args: also mask extra arguments of ``update`` that
        have the updates' structure.
      condition: ``condition(path, param) -> bool`` (tsx's form).
      true_gradient_transform: the transformation where ``condition`` holds.
      false_gradient_transform: the transformation where it does not.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` with state
      :class:`PartitionState` (``inner_states`` keyed by label; ``True`` and
      ``False`` in tsx's form).
    """
    if condition is not None:
        if transforms is not None or param_labels is not None:
            raise ValueError(
                "partition takes either transforms and param_labels, or "
                "condition with true_gradient_transform and "
                "false_gradient_transform, not both; got condition together "
                "with transforms/param_labels."
            )
        for name, tx in (
            ("true_gradient_transform", true_gradient_transform),
            ("false_gradient_transform", false_gradient_transform),
        ):
            check_transformation("partition(condition=...)", name, tx)

        def label_fn(updates, params):
            tree = updates if params is None else params
            return jax.tree_util.tree_map_with_path(
                lambda path, p: bool(condition(path, p)), tree
            )

        return _labelled_partition(
            {True: true_gradient_transform, False: false_gradient_transform},
            label_fn,
            mask_compatible_extra_args,
        )

    if true_gradient_transform is not None or false_gradient_transform is not None:
        raise ValueError(
            "true_gradient_transform / false_gradient_transform need "
            "condition=fn(path, param) -> bool; got condition=None."
        )
    if transforms is None or param_labels is None:
        raise ValueError(
            "partition needs transforms (a dict of label -> transformation) and "
            "param_labels (a label tree or a function of the params), or "
            "condition=, true_gradient_transform= and false_gradient_transform=; "
            f"got transforms={transforms!r}, param_labels={param_labels!r}."
        )
    if not isinstance(transforms, Mapping):
        raise ValueError(
            "transforms must be a mapping from labels to transformations, got "
            f"transforms={transforms!r}."
        )
    for label, tx in transforms.items():
        check_transformation("partition", f"transforms[{label!r}]", tx)
    if callable(param_labels):

        def label_fn(updates, params):
            del params
            return param_labels(updates)

    else:
        _check_labels(param_labels, transforms.keys(), "param_labels")

        def label_fn(updates, params):
            del updates, params
            return param_labels

    return _labelled_partition(transforms, label_fn, mask_compatible_extra_args)


# Optax keeps this older name as the same function.
multi_transform = partition
