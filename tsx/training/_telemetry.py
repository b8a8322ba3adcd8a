"""Per-step scalars for metric writers (``clu.metric_writers.write_scalars``).

``TrainState.apply_gradients(..., return_telemetry=True)`` returns, next to
the new state, a flat ``dict[str, jax.Array]`` of scalars:

* ``grad_norm`` - ``||g||_2`` over all leaves of the gradient handed to the
  optimizer, before any clipping the optimizer does (unscaled; the
  accumulated mean when accumulating);
* ``update_norm`` - ``||u||_2`` of the updates applied (0 when no update);
* ``learning_rate`` - when the optimizer exposes one through
  ``inject_hyperparams`` (read from its state);
* ``loss_scale`` - the loss scale used for this step (with loss scaling);
* ``skipped_steps`` - non-finite updates skipped so far (when skipping);
* ``update_applied`` - 1 when this call ran the optimizer, else 0 (with
  accumulation or skipping).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import tsx.tree_utils as tree_utils

__all__ = ["find_hyperparam", "global_norm"]


def global_norm(tree: Any) -> jax.Array:
    """``sqrt(sum_leaves sum x^2)`` in float32 (0 for an empty tree)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    squares = [jnp.sum(jnp.square(jnp.abs(x).astype(jnp.float32))) for x in leaves]
    return jnp.sqrt(sum(squares))


def _walk_hyperparams(node: Any, name: str) -> Any:
    # An ``inject_hyperparams`` state is a NamedTuple with a ``hyperparams``
    # dict; walk tuples, lists and dicts (chains, multi_transform) depth-first.
    hyper = getattr(node, "hyperparams", None)
    if isinstance(hyper, dict) and name in hyper:
        return hyper[name]
    if isinstance(node, dict):
        children = list(node.values())
    elif isinstance(node, (tuple, list)):
        children = list(node)
    else:
        children = []
    for child in children:
        found = _walk_hyperparams(child, name)
        if found is not None:
            return found
    return None


def find_hyperparam(opt_state: Any, name: str = "learning_rate") -> Any:
    """The injected hyperparameter ``name`` in ``opt_state``, or None.

    Uses ``tsx.tree_utils.tree_get`` when available (the value must be
    unique there) and otherwise the first ``hyperparams[name]`` found by a
    depth-first walk of the state.
    """
    tree_get = getattr(tree_utils, "tree_get", None)
    if tree_get is not None:
        try:
            value = tree_get(opt_state, name)
        except KeyError:
            # Several matches (two optimizers, or a stateful schedule's state
            # stored under the same name): fall back to the first
            # ``hyperparams`` entry.
            value = None
        if isinstance(value, (jax.Array, np.ndarray, np.generic, int, float)):
            return value
    return _walk_hyperparams(opt_state, name)
