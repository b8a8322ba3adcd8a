"""Per-example gradient clipping, the aggregation step of DP-SGD.

These are functions of a batch of per-example gradients (every leaf has the
batch on axis 0), not gradient transformations: they clip each example and
return the sum over the batch.
"""


from typing import Any

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx.validation import check, real

# A clipping norm; inf disables the clipping.
_CLIP = real(0.0, allow_inf=True)

__all__ = ["per_example_global_norm_clip", "per_example_layer_norm_clip"]


def _has_batch_axis(grads: Any) -> bool:
    leaves = jax.tree.leaves(grads)
    batch = leaves[0].shape[0]
    return all(g.ndim >= 1 and g.shape[0] == batch for g in leaves)


def per_example_global_norm_clip(
    grads: Any, l2_norm_clip: jax.typing.ArrayLike
) -> tuple[Any, jax.Array]:
    """Clip each example's gradient to global L2 norm ``C`` and sum over the batch.

    With ``g_b`` the gradient of example ``b`` (all leaves together):
    ``sum_b min(1, C / ||g_b||) g_b`` (a zero gradient gets factor 1). This is
    the clipping of DP-SGD (Abadi et al., 2016, "Deep Learning with
    Differential Privacy", arXiv:1607.00133).

    Args:
      grads: a tree whose every leaf has the batch on axis 0.
      l2_norm_clip: the per-example norm bound ``C`` (>= 0).

    Returns:
      ``(clipped_sum, num_clipped)``: the summed clipped gradients (leaves lose
      the batch axis) and how many examples were scaled down.
    """
    check("per_example_global_norm_clip", "l2_norm_clip", l2_norm_clip, _CLIP)
    if not _has_batch_axis(grads):
        raise ValueError(
            "per_example_global_norm_clip expects every leaf of grads to have "
            "the batch on axis 0 (the same leading dimension); got shapes "
            f"{jax.tree.map(jnp.shape, grads)}."
        )
    norms = jax.vmap(tu.tree_norm)(grads)
    # 0/0 (a zero gradient with C = 0) is NaN: such an example is left alone.
    factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    num_clipped = jnp.sum(factors < 1.0)
    clipped_sum = jax.tree.map(lambda g: jnp.tensordot(factors, g, axes=1), grads)
    return clipped_sum, num_clipped


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: jax.typing.ArrayLike, uniform: bool = True
) -> tuple[Any, Any]:
    """Clip each example's gradient layer by layer, then sum over the batch.

    Each of the ``K`` leaves (layers) is clipped independently with
    :func:`per_example_global_norm_clip` to its own bound ``C_k``, chosen so
    that ``sum_k C_k^2 = C^2`` (McMahan et al., 2018, "Learning Differentially
    Private Recurrent Language Models", arXiv:1710.06963):

    * ``uniform=True``: ``C_k = C / sqrt(K)``;
    * ``uniform=False``: ``C_k = C * sqrt(D_k / D)``, with ``D_k`` the size of
      one example's leaf ``k`` and ``D`` their total.

    Args:
      grads: a tree whose every leaf has the batch on axis 0.
      global_l2_norm_clip: the overall bound ``C`` (>= 0).
      uniform: split the bound equally, or in proportion to layer sizes.

    Returns:
      ``(clipped_sum, num_clipped)``, both trees shaped like ``grads``: the
      summed clipped gradients and, per leaf, how many examples were clipped.
    """
    check(
        "per_example_layer_norm_clip",
        "global_l2_norm_clip",
        global_l2_norm_clip,
        _CLIP,
    )
    if not _has_batch_axis(grads):
        raise ValueError(
            "per_example_layer_norm_clip expects every leaf of grads to have "
            "the batch on axis 0 (the same leading dimension); got shapes "
            f"{jax.tree.map(jnp.shape, grads)}."
        )
    if uniform:
        num_layers = len(jax.tree.leaves(grads))
        bounds = jax.tree.map(
            lambda _: global_l2_norm_clip * (1.0 / num_layers) ** 0.5, grads
        )
    else:
        total = sum(g[0].size for g in jax.tree.leaves(grads))
        bounds = jax.tree.map(
            lambda g: global_l2_norm_clip * (g[0].size / total) ** 0.5, grads
        )
    pairs = jax.tree.map(per_example_global_norm_clip, grads, bounds)
    return jax.tree.transpose(
        outer_treedef=jax.tree.structure(grads),
        inner_treedef=jax.tree.structure((0, 0)),
        pytree_to_transpose=pairs,
    )
