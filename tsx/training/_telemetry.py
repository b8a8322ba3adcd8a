"""Per-step scalars for metric writers (``clu.metric_writers.write_scalars``).

With ``TrainState.create(..., telemetry=True)`` every ``apply_gradients``
stores, in ``state.telemetry``, a flat ``dict[str, jax.Array]`` of scalars:

* ``grad_norm`` - ``||g||_2`` over all leaves of the gradient handed to the
  optimizer, before any clipping the optimizer does (unscaled; the
  accumulated mean when accumulating), computed in float32;
* ``update_norm`` - ``||u||_2`` of the updates applied (0 when no update);
* ``learning_rate`` - when the optimizer exposes one through
  ``inject_hyperparams`` (read from its state);
* ``loss_scale`` - the loss scale used for this step (with loss scaling);
* ``skipped_steps`` - steps refused by the non-finite guard so far;
* ``update_applied`` - 1 when this call ran the optimizer, else 0 (with
  accumulation or the guard).
"""


import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tsx import tree_utils as tu

__all__ = ["find_hyperparam", "float32_norm", "global_norm"]


def float32_norm(tree: Any) -> jax.Array:
    """``||tree||_2`` computed in float32 (bfloat16 leaves would lose digits)."""
    return tu.tree_norm(
        jax.tree.map(
            lambda x: jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32)), tree
        )
    )


def global_norm(tree: Any) -> jax.Array:
    """Deprecated: :func:`tsx.tree_utils.tree_norm` (one global norm)."""
    warnings.warn(
        "tsx.training.global_norm is deprecated; use tsx.tree_utils.tree_norm.",
        DeprecationWarning,
        stacklevel=2,
    )
    return float32_norm(tree)


def find_hyperparam(opt_state: Any, name: str = "learning_rate") -> Any:
    """The hyperparameter ``name`` injected into ``opt_state``, or None.

    The first array found under that key (``inject_hyperparams`` stores it in
    its state's ``hyperparams`` dict), in the order of
    :func:`tsx.tree_utils.tree_get_all_with_path`: with several optimizers
    (parameter groups) the first group's.
    """
    for _, value in tu.tree_get_all_with_path(opt_state, name):
        if isinstance(value, jax.Array | np.ndarray | np.generic):
            return value
    return None


def step_telemetry(
    grads: Any,
    update_norm: jax.Array,
    opt_state: Any,
    loss_scale: Any = None,
    skipped_steps: jax.Array | None = None,
    applied: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """The scalars of one step (see the module docs)."""
    scalars = {"grad_norm": float32_norm(grads), "update_norm": update_norm}
    lr = find_hyperparam(opt_state, "learning_rate")
    if lr is not None:
        scalars["learning_rate"] = jnp.asarray(lr, jnp.float32)
    if loss_scale is not None:
        scalars["loss_scale"] = loss_scale.scale
    if skipped_steps is not None:
        scalars["skipped_steps"] = skipped_steps
    if applied is not None:
        scalars["update_applied"] = jnp.asarray(applied).astype(jnp.int32)
    return scalars
