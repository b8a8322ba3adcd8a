"""Shampoo: Kronecker-factored preconditioning of each matrix, blocked.

For a gradient block ``G`` (``m x n``, see :mod:`tsx.matrix`) Shampoo keeps
the factor statistics

.. math::

   L_t = \\beta_2 L_{t-1} + (1-\\beta_2) G_t G_t^T, \\qquad
   R_t = \\beta_2 R_{t-1} + (1-\\beta_2) G_t^T G_t

and steps along :math:`P_t = L^{-1/4} G_t R^{-1/4}` (a side larger than
``max_precond_dim``, or of size 1, is left out and the other side takes the
root ``-1/2``). The inverse roots are recomputed every
``precondition_frequency`` steps from an eigendecomposition in float32 with
relative damping ``matrix_eps * lambda_max``. *Grafting* gives the direction
``P`` the per-block norm of a simpler optimizer's step (Adam by default, so
learning rates are on Adam's scale): ``P * ||A|| / ||P||``. Before
``start_preconditioning_step`` (and for vectors and scalars) the step is the
grafting direction itself. A bias-corrected momentum ``b1`` averages the
final direction.

With one gradient and no grafting the first step is ``U V^T`` for
``G = U S V^T``: Shampoo orthogonalises like Muon, but with the statistics of
many steps.

References: Gupta, Koren & Singer 2018, "Shampoo: Preconditioned Stochastic
Tensor Optimization", arXiv:1802.09568; Anil et al. 2020, "Scalable Second
Order Optimization for Deep Learning", arXiv:2002.09018 (blocking, grafting,
delayed roots).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation, ScalarOrSchedule
from tsx._combine import chain
from tsx.matrix import (
    DIMENSION_NUMBERS,
    identities_like,
    inverse_root,
    leaf_layouts,
    map_by_sides,
    map_sides,
    two_sided,
    update_statistics,
)
from tsx.sharding import auto_axes_update, cond
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE_INT,
    STEPS,
    choice,
    hyperparameters,
)

__all__ = ["ShampooState", "scale_by_shampoo", "shampoo"]

_GRAFTS = ("adam", "adagrad", "sgd", "none")


class ShampooState(NamedTuple):
    """State of :func:`scale_by_shampoo`.

    Attributes:
      count: steps taken (int32).
      mu: momentum of the step direction (shaped like the params).
      nu: the grafting optimizer's second moment (shaped like the params).
      stats: per leaf, ``(L, R)`` stacked over its blocks.
      roots: per leaf, the inverse roots of ``(L, R)`` in use.
    """

    count: jax.Array
    mu: Any
    nu: Any
    stats: Any
    roots: Any


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    matrix_eps=NON_NEGATIVE,
    block_size=POSITIVE_INT,
    precondition_frequency=POSITIVE_INT,
    start_preconditioning_step=STEPS,
    graft_type=choice(*_GRAFTS),
    max_precond_dim=POSITIVE_INT,
)
def scale_by_shampoo(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    matrix_eps: float = 1e-6,
    block_size: int = 256,
    precondition_frequency: int = 10,
    start_preconditioning_step: int = 10,
    graft_type: str = "adam",
    max_precond_dim: int = 2048,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """Shampoo's direction (module docs), without learning rate.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      b1: momentum of the final direction (0 disables it).
      b2: decay of the factor statistics and of the grafting second moment.
      eps: the grafting optimizer's ``eps``.
      matrix_eps: damping of the inverse roots, relative to ``lambda_max``.
      block_size: the largest block side (``min(dim, block_size)``).
      precondition_frequency: steps between inverse-root computations.
      start_preconditioning_step: steps that use the grafting direction only.
      graft_type: ``"adam"``, ``"adagrad"``, ``"sgd"`` (the gradient's norm)
        or ``"none"`` (no norm grafting).
      max_precond_dim: sides larger than this are not preconditioned.
      weight_dimension_numbers: how leaves become matrices (a
        :class:`~tsx.contrib.MuonDimensionNumbers`, a tree of them or a
        function of the params); default: matrices as they are, the other
        axes of higher-rank kernels merged into the rows.
    """

    def init_fn(params):
        layouts, treedef = leaf_layouts(params, weight_dimension_numbers, block_size)
        stats = treedef.unflatten(
            [lay.side_statistics(max_precond_dim) for lay in layouts]
        )
        mu, nu = tu.tree_zeros_like(params), tu.tree_zeros_like(params)
        roots = jax.tree.map(identities_like, stats)
        return ShampooState(jnp.zeros([], jnp.int32), mu, nu, stats, roots)

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        layouts, treedef = leaf_layouts(updates, weight_dimension_numbers, block_size)
        sides = [lay.sides(max_precond_dim) for lay in layouts]
        grads = treedef.flatten_up_to(updates)
        blocks = [
            lay.blocks(g.astype(jnp.float32)) if any(used) else None
            for lay, g, used in zip(layouts, grads, sides, strict=True)
        ]
        stats = update_statistics(treedef.flatten_up_to(state.stats), blocks, sides, b2)
        roots = cond(
            state.count % precondition_frequency == 0,
            lambda: _inverse_roots(stats, sides, matrix_eps),
            lambda: treedef.flatten_up_to(state.roots),
        )
        grafted, nu = _graft(graft_type, updates, state.nu, count, b2, eps)
        preconditioned = map_by_sides(
            lambda item, used: two_sided(*item, used),
            sides,
            [(b, *r) for b, r in zip(blocks, roots, strict=True)],
        )
        started = state.count >= start_preconditioning_step
        direction = treedef.unflatten(
            [
                a
                if p is None
                else jnp.where(started, _grafted(graft_type, lay, p, a, g), a)
                for lay, g, a, p in zip(
                    layouts,
                    grads,
                    treedef.flatten_up_to(grafted),
                    preconditioned,
                    strict=True,
                )
            ]
        )
        mu = tu.tree_update_moment(direction, state.mu, b1, 1)
        new_updates = tu.tree_bias_correction(mu, b1, count) if b1 > 0 else direction
        return new_updates, ShampooState(
            count=count,
            mu=mu,
            nu=nu,
            stats=treedef.unflatten(stats),
            roots=treedef.unflatten(roots),
        )

    return GradientTransformation(init_fn, auto_axes_update(update_fn))


def _grafted(
    graft_type: str, lay: Any, p: jax.Array, a: jax.Array, g: jax.Array
) -> jax.Array:
    """The preconditioned blocks ``p``, with the grafting step ``a``'s norm per
    block (unless ``graft_type="none"``), as a leaf shaped like ``g``."""
    if graft_type != "none":
        ab = lay.blocks(a.astype(jnp.float32))
        norm_p = jnp.sqrt(jnp.sum(p * p, axis=(-2, -1), keepdims=True))
        norm_a = jnp.sqrt(jnp.sum(ab * ab, axis=(-2, -1), keepdims=True))
        p = p * (norm_a / jnp.maximum(norm_p, 1e-30))
    return lay.unblocks(p, like=g).astype(g.dtype)


def _inverse_roots(
    stats: list[tuple[jax.Array, jax.Array]], sides: list[Any], matrix_eps: float
) -> list[tuple[jax.Array, jax.Array]]:
    """``S^{-1/p}`` of every used side: ``p = 4`` with two sides, 2 with one."""
    fresh = map_sides(
        lambda a, p: inverse_root(a, p, matrix_eps),
        sides,
        lambda i, k: stats[i][k],
        group=lambda used: 2 * sum(used),
    )
    return [
        tuple(fresh.get((i, k), identities_like(s)) for k, s in enumerate(pair))
        for i, pair in enumerate(stats)
    ]


def _graft(
    graft_type: str, updates: Any, nu: Any, count: jax.Array, b2: float, eps: float
) -> tuple[Any, Any]:
    """The grafting optimizer's step and its new second moment."""
    if graft_type == "adam":
        nu = tu.tree_update_moment_per_elem_norm(updates, nu, b2, 2)
        nu_hat = tu.tree_bias_correction(nu, b2, count)
        return jax.tree.map(lambda g, v: g / (jnp.sqrt(v) + eps), updates, nu_hat), nu
    if graft_type == "adagrad":
        nu = jax.tree.map(lambda v, g: v + jnp.square(g), nu, updates)
        return jax.tree.map(lambda g, v: g / (jnp.sqrt(v) + eps), updates, nu), nu
    return updates, nu


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    matrix_eps=NON_NEGATIVE,
    block_size=POSITIVE_INT,
    precondition_frequency=POSITIVE_INT,
    start_preconditioning_step=STEPS,
    graft_type=choice(*_GRAFTS),
    max_precond_dim=POSITIVE_INT,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def shampoo(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    matrix_eps: float = 1e-6,
    block_size: int = 256,
    precondition_frequency: int = 10,
    start_preconditioning_step: int = 10,
    graft_type: str = "adam",
    max_precond_dim: int = 2048,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """Shampoo with Adam grafting and decoupled weight decay.

    For each block ``G`` of a matrix (see :mod:`tsx.matrix`):

    .. math::

       L_t = \\beta_2 L_{t-1} + (1-\\beta_2) G_t G_t^T, \\quad
       R_t = \\beta_2 R_{t-1} + (1-\\beta_2) G_t^T G_t, \\quad
       P_t = \\tilde L^{-1/4} G_t \\tilde R^{-1/4}\\, \\frac{\\|A_t\\|_F}{\\|
       \\tilde L^{-1/4} G_t \\tilde R^{-1/4}\\|_F},

    ``A_t`` the grafting optimizer's step (Adam's by default) and the roots
    of ``L + epsilon_m lambda_max I`` recomputed every
    ``precondition_frequency`` steps. The update is
    ``-eta (m_hat_t + lambda theta)`` with ``m`` a bias-corrected EMA
    (``b1``) of ``P``. Before ``start_preconditioning_step``, and for
    vectors and scalars, ``P = A``.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      learning_rate: :math:`\\eta`, a number >= 0 or a schedule (Adam's
        scale, through grafting).
      b1: momentum of the direction, in [0, 1); 0 disables it. Default 0.9.
      b2: :math:`\\beta_2`, decay of the statistics and of the grafting
        second moment, in [0, 1). Default 0.999.
      eps: the grafting optimizer's epsilon, >= 0. Default 1e-8.
      matrix_eps: :math:`\\epsilon_m` >= 0, damping of the inverse roots
        relative to the largest eigenvalue. Default 1e-6.
      block_size: the largest block side, >= 1. Default 256.
      precondition_frequency: steps between root computations, >= 1.
        Default 10.
      start_preconditioning_step: steps that use the grafting direction
        only, >= 0. Default 10.
      graft_type: ``"adam"`` (default), ``"adagrad"``, ``"sgd"`` or
        ``"none"``.
      max_precond_dim: sides larger than this (>= 1) are not
        preconditioned. Default 2048.
      weight_decay: :math:`\\lambda` >= 0, decoupled. Default 0.
      mask: which parameters are decayed: a tree of booleans or a function
        of the params; None (default): all.
      weight_dimension_numbers: how leaves become matrices (a
        :class:`~tsx.contrib.MuonDimensionNumbers`, a tree of them or a
        function of the params); None (default): 2-D leaves as they are,
        higher ranks with the leading axes merged into the rows.

    Returns:
      A transformation with state ``(ShampooState(count, mu, nu, stats,
      roots), decay_state, lr_state)``.

    References:
      Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
      Optimization", 2018, arXiv:1802.09568; Anil et al., "Scalable Second
      Order Optimization for Deep Learning", 2020, arXiv:2002.09018.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.arange(12.0).reshape(4, 3) / 10
      >>> f = lambda p: jnp.sum((p["w"] - target) ** 2)
      >>> tx = tsx.contrib.shampoo(0.05)
      >>> params = {"w": jnp.zeros((4, 3))}
      >>> state = tx.init(params)
      >>> update = jax.jit(tx.update)
      >>> for _ in range(200):
      ...     updates, state = update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f({'w': jnp.zeros((4, 3))}):.2f} -> {f(params):.4f}")
      loss 5.06 -> 0.0000
    """
    return chain(
        scale_by_shampoo(
            b1,
            b2,
            eps,
            matrix_eps,
            block_size,
            precondition_frequency,
            start_preconditioning_step,
            graft_type,
            max_precond_dim,
            weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
