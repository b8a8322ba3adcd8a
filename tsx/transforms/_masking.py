"""Applying a transformation to a subset of the parameters."""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    with_extra_args_support,
)
from tsx.validation import (
    BOOL,
    MASK,
    TRANSFORMATION,
    describe_prefix_mismatch,
    hyperparameters,
)

__all__ = ["MaskOrFn", "MaskedNode", "MaskedState", "masked"]

MaskOrFn = Any | Callable[[Params], Any]


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf: an empty pytree node, so it holds no state."""


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner transformation's state."""

    inner_state: OptState


def _is_mask_fn(mask: Any) -> bool:
    flags = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(flags) and all(flags)


def _mask_tree(tree: Any, mask_tree: Any, of: str = "updates") -> Any:
    # ``mask_tree`` may be a prefix of ``tree``: a False prunes a whole subtree.
    try:
        return jax.tree.map(lambda m, t: t if m else MaskedNode(), mask_tree, tree)
    except (ValueError, TypeError) as err:
        msg = describe_prefix_mismatch(mask_tree, tree, of=of)
        if msg is None:
            raise
        raise ValueError(
            f"masked: the mask does not fit the {of}: {msg}. A mask is a tree "
            f"of booleans shaped like the {of}, or a prefix of them."
        ) from err


@hyperparameters(
    inner=TRANSFORMATION,
    mask=MASK,
    mask_compatible_extra_args=BOOL,
)
def masked(
    inner: GradientTransformation,
    mask: MaskOrFn,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Apply ``inner`` only where ``mask`` is True; other updates pass unchanged.

    ``mask`` is a tree of booleans shaped like the params (or a prefix of
    them), or a function ``params -> mask``. The inner state holds entries
    only for the masked-in parameters (masked-out ones become
    :class:`MaskedNode`). With ``mask_compatible_extra_args=True``, extra
    arguments shaped like the updates are masked too.

    Args:
      inner: the transformation to apply where ``mask`` is True.
      mask: a tree of booleans with the params' structure (or a prefix), or a
        function ``params -> mask``.
      mask_compatible_extra_args: also mask extra keyword arguments whose
        structure matches the updates (default False: pass them whole).
    """
    inner = with_extra_args_support(inner)

    def resolve(tree):
        return mask(tree) if _is_mask_fn(mask) else mask

    def init_fn(params):
        if getattr(params, "_tsx_params_placeholder", False):
            return MaskedState(inner_state=inner.init(params))
        masked_params = _mask_tree(params, resolve(params), of="parameters")
        return MaskedState(inner_state=inner.init(masked_params))

    def update_fn(updates, state, params=None, **extra_args):
        mask_tree = resolve(updates)
        structure = jax.tree.structure(updates)
        if mask_compatible_extra_args:
            extra_args = {
                k: _mask_tree(v, mask_tree) if jax.tree.structure(v) == structure else v
                for k, v in extra_args.items()
            }
        new_masked, inner_state = inner.update(
            _mask_tree(updates, mask_tree),
            state.inner_state,
            None if params is None else _mask_tree(params, mask_tree),
            **extra_args,
        )
        new_updates = jax.tree.map(
            lambda m, new, old: new if m else old, mask_tree, new_masked, updates
        )
        return new_updates, MaskedState(inner_state=inner_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
