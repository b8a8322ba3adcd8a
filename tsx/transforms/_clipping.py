"""Clipping updates: element-wise, by global norm, by block RMS, unit-wise (AGC).

All clipping here works on complex updates too: magnitudes are taken as
``|u|^2 = u conj(u)``.
"""


import jax
import jax.numpy as jnp
import numpy as np

from tsx import tree_utils as tu
from tsx._base import EmptyState, GradientTransformation, init_empty_state
from tsx.numerics import abs_sq
from tsx.validation import (
    NON_NEGATIVE,
    POSITIVE,
    any_of,
    hyperparameters,
    integer,
    optional,
    real,
    require_params,
    sequence_of,
)

__all__ = [
    "AdaptiveGradClipState",
    "ClipByGlobalNormState",
    "ClipState",
    "adaptive_grad_clip",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "unitwise_clip",
    "unitwise_norm",
]

# These transformations keep nothing between steps; the names exist so that
# code written against Optax's state classes keeps working.
ClipState = EmptyState
ClipByGlobalNormState = EmptyState
AdaptiveGradClipState = EmptyState


@hyperparameters(
    max_delta=real(0.0, allow_inf=True),
)
def clip(max_delta: jax.typing.ArrayLike) -> GradientTransformation:
    """Clip every element of the updates to ``[-max_delta, max_delta]``.

    ``u_i <- min(max(u_i, -max_delta), max_delta)``.

    Args:
      max_delta: the largest magnitude an element may keep (>= 0).

    Returns:
      A stateless :class:`~tsx.GradientTransformation`.
    """

    def update_fn(updates, state, params=None):
        del params
        return tu.tree_clip(updates, -max_delta, max_delta), state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    threshold=POSITIVE,
)
def clip_by_block_rms(threshold: jax.typing.ArrayLike) -> GradientTransformation:
    """Rescale each leaf (block) so that its root-mean-square is at most ``threshold``.

    For every leaf ``u``: ``u <- u / max(1, rms(u) / threshold)`` with
    ``rms(u) = sqrt(mean(|u|^2))``.

    Args:
      threshold: the largest RMS a leaf may keep (> 0).

    Returns:
      A stateless :class:`~tsx.GradientTransformation`.
    """

    def clip_leaf(u):
        denom = jnp.maximum(1.0, jnp.sqrt(jnp.mean(abs_sq(u))) / threshold)
        return u / denom

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(clip_leaf, updates), state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    max_norm=real(0.0, allow_inf=True),
)
def clip_by_global_norm(max_norm: jax.typing.ArrayLike) -> GradientTransformation:
    """Rescale the updates so that their global L2 norm is at most ``max_norm``.

    With ``n = ||u||_2`` over all leaves together: ``u`` is unchanged when
    ``n < max_norm``, else ``u <- u / n * max_norm``. The direction is kept,
    only the length is capped (Pascanu et al., 2013, "On the difficulty of
    training recurrent neural networks", arXiv:1211.5063).

    Args:
      max_norm: the largest global norm the updates may keep (>= 0).

    Returns:
      A stateless :class:`~tsx.GradientTransformation`.
    """

    def update_fn(updates, state, params=None):
        del params
        g_norm = tu.tree_norm(updates)
        keep = jnp.squeeze(g_norm < max_norm)
        if keep.ndim != 0:
            raise ValueError(
                f"max_norm must be a scalar, got an array of shape "
                f"{np.shape(max_norm)}."
            )
        # One scalar factor, not Optax's per-element ``(t / n) * max_norm``:
        # XLA then fuses the cheap ``t * scale`` into whatever consumes the
        # clipped updates (the moment and parameter kernels of a following
        # Adam), instead of materialising a clipped copy of every gradient
        # (a params-sized temporary and one more pass over memory; see
        # benchmarks/README.md). Clipped values differ from Optax's by float
        # rounding only (an ulp or two); a kept update is multiplied by
        # exactly 1 and so returned bit-for-bit.
        scale = jnp.squeeze(jnp.where(keep, 1.0, max_norm / g_norm))
        new = jax.tree.map(lambda t: t * scale.astype(t.dtype), updates)
        return new, state

    return GradientTransformation(init_empty_state, update_fn)


def unitwise_norm(
    x: jax.typing.ArrayLike, axis: int | tuple[int, ...] | None = None
) -> jax.Array:
    """The L2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

    A unit is the slice of ``x`` reduced over ``axis``. With ``axis=None`` the
    reduction follows the usual layer layouts: scalars and vectors (after
    squeezing) as a whole; rank 2 (``in x out``) and rank 3 (multi-head) over
    axis 0; rank 4 (``HWIO`` conv kernels) over axes ``(0, 1, 2)``; rank 5
    (``DHWIO``) over ``(0, 1, 2, 3)``. Other ranks need an explicit ``axis``.

    Args:
      x: the array.
      axis: the axis or axes that make up a unit, or ``None`` for the defaults.

    Returns:
      An array shaped like ``x`` holding each unit's norm.
    """
    x = jnp.asarray(x)
    if axis is not None:
        sq = jnp.sum(abs_sq(x), axis=axis, keepdims=True)
    elif jnp.squeeze(x).ndim <= 1:
        sq = jnp.sum(abs_sq(x), keepdims=True)
    elif x.ndim in (2, 3):
        sq = jnp.sum(abs_sq(x), axis=0, keepdims=True)
    elif x.ndim == 4:
        sq = jnp.sum(abs_sq(x), axis=(0, 1, 2), keepdims=True)
    elif x.ndim == 5:
        sq = jnp.sum(abs_sq(x), axis=(0, 1, 2, 3), keepdims=True)
    else:
        raise ValueError(
            f"unitwise_norm has default units for arrays of rank 1 to 5, got "
            f"shape {x.shape}; pass axis= to choose the reduction axes."
        )
    return jnp.broadcast_to(jnp.sqrt(sq), x.shape)


def _shape(a: jax.typing.ArrayLike) -> tuple[int, ...]:
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def unitwise_clip(
    g_norm: jax.typing.ArrayLike,
    max_norm: jax.typing.ArrayLike,
    grad: jax.typing.ArrayLike,
    div_eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
    """Clip ``grad`` unit-wise: rescale units whose norm reaches ``max_norm``.

    ``grad`` where ``g_norm < max_norm``, else
    ``grad * max_norm / max(g_norm, div_eps)``. The three arrays must have
    the same shape (as :func:`unitwise_norm` returns). ``div_eps`` only
    guards the division; it is not a clipping threshold.

    Args:
      g_norm: the unit-wise norms of ``grad``.
      max_norm: the unit-wise limits, shaped like ``g_norm``.
      grad: the gradient.
      div_eps: the smallest divisor (default 1e-6).
    """
    for name, other in (("max_norm", max_norm), ("grad", grad)):
        if _shape(g_norm) != _shape(other):
            raise ValueError(
                f"unitwise_clip: g_norm has shape {_shape(g_norm)} but {name} has "
                f"shape {_shape(other)}; they must be equal."
            )
    # The factor (1 where the unit is within bounds) is chosen on the norms and
    # multiplied in: ``grad * 1`` is ``grad``, and on an Explicit mesh a
    # select between a sharded gradient and its replicated norms is an error.
    factor = jnp.where(g_norm < max_norm, 1.0, max_norm / jnp.maximum(g_norm, div_eps))
    return grad * factor.astype(jnp.result_type(grad, factor))


@hyperparameters(
    clipping=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    axis=optional(any_of(integer(), sequence_of(integer()))),
)
def adaptive_grad_clip(
    clipping: jax.typing.ArrayLike,
    eps: jax.typing.ArrayLike = 1e-3,
    axis: int | tuple[int, ...] | None = None,
) -> GradientTransformation:
    """Adaptive gradient clipping (AGC): cap each unit's update relative to its weights.

    For every unit ``i`` (see :func:`unitwise_norm`), with ``G_i`` the norm of
    its update and ``W_i`` the norm of its parameters:
    ``u_i <- u_i`` if ``G_i < clipping * max(W_i, eps)``, else
    ``u_i <- u_i * clipping * max(W_i, eps) / G_i``. ``eps`` keeps
    zero-initialised weights from freezing (Brock et al., 2021,
    "High-Performance Large-Scale Image Recognition Without Normalization",
    arXiv:2102.06171).

    Args:
      clipping: the largest allowed ratio of update norm to parameter norm (>= 0).
      eps: the floor on the parameter norm (>= 0).
      axis: the unit's axes, or ``None`` for :func:`unitwise_norm`'s defaults.

    Returns:
      A stateless :class:`~tsx.GradientTransformation` that needs ``params``.
    """

    def update_fn(updates, state, params=None):
        require_params(params, "adaptive_grad_clip")
        g_norm = jax.tree.map(lambda x: unitwise_norm(x, axis=axis), updates)
        p_norm = jax.tree.map(lambda x: unitwise_norm(x, axis=axis), params)
        max_norm = jax.tree.map(lambda w: clipping * jnp.maximum(w, eps), p_norm)
        new = jax.tree.map(unitwise_clip, g_norm, max_norm, updates)
        return new, state

    return GradientTransformation(init_empty_state, update_fn)
