"""SOAP: Adam in the eigenbasis of Shampoo's factors.

For a gradient block ``G`` with Shampoo statistics ``L``, ``R`` (decay
``shampoo_beta``) and their eigenbases ``Q_L``, ``Q_R``, SOAP runs Adam on
the rotated gradient ``G' = Q_L^T G Q_R``: the momentum ``m`` is kept in the
parameters' own basis (rotated when used), the second moment ``v'`` in the
eigenbasis, and the step is rotated back:

.. math::

   u = Q_L \\left[\\frac{\\hat m'}{\\sqrt{\\hat v'} + \\epsilon}\\right] Q_R^T,
   \\qquad m' = Q_L^T m Q_R,\\; v' \\leftarrow \\beta_2 v' + (1-\\beta_2) G'^2

with Adam's bias corrections. The bases come from an eigendecomposition of
the first step's statistics and are refreshed every
``precondition_frequency`` steps by one QR power iteration
(``Q <- QR(L Q)``, columns ordered by estimated eigenvalue, ``v'`` permuted
alike). A side larger than ``max_precond_dim`` keeps the identity
(one-sided SOAP); vectors and scalars get plain Adam, so with
``max_precond_dim=0`` SOAP *is* Adam.

As in the reference implementation, a preconditioned leaf's first step only
gathers statistics and computes the bases, and its update is zero: the first
gradient rotated into the eigenbases of its own statistics is diagonal
(``Q_L^T G Q_R = S`` for ``G = Q_L S Q_R^T``), and Adam would blow the
rounding noise off the diagonal up to steps of size 1. The moments start with
the second gradient. Leaves without a preconditioned side take Adam's first
step as usual.

Where the statistics are rank-deficient (a layer narrower than its block,
fewer samples than a block side), the eigenbasis of their null space is
arbitrary; SOAP's step depends on that choice, so float32 rounding there (a
different device layout, another batch shape) changes the step itself, not
only its last digits.

Reference: Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using
Adam", arXiv:2409.11321.
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
    eigenbasis,
    identities_like,
    leaf_layouts,
    map_by_sides,
    map_sides,
    qr_eigenbasis,
    two_sided,
    update_statistics,
)
from tsx.optimizers import scale_by_adam
from tsx.sharding import auto_axes_update, cond
from tsx.transforms import (
    MaskOrFn,
    add_decayed_weights,
    partition,
    scale_by_learning_rate,
)
from tsx.validation import (
    DECAY,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE_INT,
    STEPS,
    hyperparameters,
    optional,
)

__all__ = ["SoapState", "scale_by_soap", "soap"]


class SoapState(NamedTuple):
    """State of the ``"soap"`` part of :func:`scale_by_soap` (leaves with a
    preconditioned side; the others are Adam's).

    Attributes:
      count: steps taken (int32).
      mu: first moment, in the parameters' basis (shaped like the params).
      nu: second moment, in the eigenbasis, per block
        ``(blocks, block_rows, block_cols)``.
      stats: per leaf, Shampoo's ``(L, R)`` stacked over its blocks.
      bases: per leaf, the eigenbases ``(Q_L, Q_R)`` in use.
    """

    count: jax.Array
    mu: Any
    nu: Any
    stats: Any
    bases: Any


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    b1=DECAY,
    b2=DECAY,
    shampoo_beta=optional(DECAY),
    eps=NON_NEGATIVE,
    block_size=POSITIVE_INT,
    precondition_frequency=POSITIVE_INT,
    max_precond_dim=STEPS,
)
def scale_by_soap(
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float | None = None,
    eps: float = 1e-8,
    block_size: int = 256,
    precondition_frequency: int = 10,
    max_precond_dim: int = 2048,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """SOAP's direction (module docs), without learning rate.

    A :func:`~tsx.partition` of two parts: leaves with a preconditioned side
    (``"soap"``, state :class:`SoapState`) and the others, vectors and
    scalars among them, which get :func:`tsx.scale_by_adam` (``"adam"``).

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      b1: Adam's first-moment decay.
      b2: Adam's second-moment decay.
      shampoo_beta: decay of the factor statistics (default: ``b2``).
      eps: Adam's ``eps``.
      block_size: the largest block side.
      precondition_frequency: steps between eigenbasis refreshes.
      max_precond_dim: sides larger than this keep the identity basis.
      weight_dimension_numbers: how leaves become matrices (see
        :func:`tsx.contrib.scale_by_shampoo`).

    Returns:
      A transformation whose state is a :class:`~tsx.PartitionState`:
      ``inner_states["soap"].inner_state`` is the :class:`SoapState`,
      ``inner_states["adam"].inner_state`` Adam's state.
    """

    def labels(params):
        layouts, treedef = leaf_layouts(params, weight_dimension_numbers, block_size)
        return treedef.unflatten(
            ["soap" if any(lay.sides(max_precond_dim)) else "adam" for lay in layouts]
        )

    rotated = _scale_by_rotated_adam(
        b1,
        b2,
        b2 if shampoo_beta is None else shampoo_beta,
        eps,
        block_size,
        precondition_frequency,
        max_precond_dim,
        weight_dimension_numbers,
    )
    return partition({"soap": rotated, "adam": scale_by_adam(b1, b2, eps)}, labels)


def _scale_by_rotated_adam(
    b1: float,
    b2: float,
    beta_s: float,
    eps: float,
    block_size: int,
    precondition_frequency: int,
    max_precond_dim: int,
    dims: Any,
) -> GradientTransformation:
    """Adam in the eigenbases, for leaves with at least one preconditioned side."""

    def init_fn(params):
        return _init(leaf_layouts(params, dims, block_size), params, max_precond_dim)

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        layouts, treedef = leaf_layouts(updates, dims, block_size)
        sides = [lay.sides(max_precond_dim) for lay in layouts]
        grads = treedef.flatten_up_to(updates)
        blocks = [
            lay.blocks(g.astype(jnp.float32))
            for lay, g in zip(layouts, grads, strict=True)
        ]
        stats = update_statistics(
            treedef.flatten_up_to(state.stats), blocks, sides, beta_s
        )
        bases = treedef.flatten_up_to(state.bases)
        first = state.count == 0
        bases = cond(first, lambda: _eigenbases(stats, sides, bases), lambda: bases)
        # A leaf's first step only sets up its bases (module docs): the moments
        # start with the second gradient, one fewer than ``count``.
        seen = jnp.maximum(count - 1, 1)
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        m_hat = treedef.flatten_up_to(tu.tree_bias_correction(mu, b1, seen))
        m_blocks = [
            lay.blocks(m.astype(jnp.float32))
            for lay, m in zip(layouts, m_hat, strict=True)
        ]
        g_rot, m_rot = (
            _rotate(x, bases, sides, back=False) for x in (blocks, m_blocks)
        )
        nus = treedef.flatten_up_to(state.nu)
        nu = [
            b2 * v + (1 - b2) * jnp.square(g) for v, g in zip(nus, g_rot, strict=True)
        ]
        correction = 1 - jnp.asarray(b2, jnp.float32) ** seen
        steps = [
            m / (jnp.sqrt(v / correction) + eps) for m, v in zip(m_rot, nu, strict=True)
        ]
        back = _rotate(steps, bases, sides, back=True)
        new_updates = [
            jnp.where(first, 0, lay.unblocks(b, like=g)).astype(g.dtype)
            for lay, b, g in zip(layouts, back, grads, strict=True)
        ]
        mu = jax.tree.map(lambda new, old: jnp.where(first, old, new), mu, state.mu)
        nu = [jnp.where(first, old, new) for new, old in zip(nu, nus, strict=True)]
        refresh = (count % precondition_frequency == 0) & (state.count > 0)
        bases, nu = cond(
            refresh, lambda: _refreshed(stats, bases, nu, sides), lambda: (bases, nu)
        )
        return treedef.unflatten(new_updates), SoapState(
            count=count,
            mu=mu,
            nu=treedef.unflatten(nu),
            stats=treedef.unflatten(stats),
            bases=treedef.unflatten(bases),
        )

    return GradientTransformation(init_fn, auto_axes_update(update_fn))


def _init(layouts_treedef: Any, params: Any, max_precond_dim: int) -> SoapState:
    """Zero moments and statistics, identity bases."""
    layouts, treedef = layouts_treedef
    stats = [lay.side_statistics(max_precond_dim) for lay in layouts]
    nu = [
        jnp.zeros((lay.num_blocks, lay.block_rows, lay.block_cols)) for lay in layouts
    ]
    bases = [(identities_like(a), identities_like(b)) for a, b in stats]
    return SoapState(
        count=jnp.zeros([], jnp.int32),
        mu=tu.tree_zeros_like(params),
        nu=treedef.unflatten(nu),
        stats=treedef.unflatten(stats),
        bases=treedef.unflatten(bases),
    )


def _rotate(
    blocks: list[jax.Array], bases: list[Any], sides: list[Any], back: bool
) -> list[jax.Array]:
    """``Q_L^T B Q_R`` per block (``back``: ``Q_L B Q_R^T``), batched by kind."""

    def one(item, used):
        x, q_l, q_r = item
        return (
            two_sided(x, q_l, q_r.T, used) if back else two_sided(x, q_l.T, q_r, used)
        )

    items = [(b, *q) for b, q in zip(blocks, bases, strict=True)]
    return map_by_sides(one, sides, items)


def _eigenbases(stats: list[Any], sides: list[Any], bases: list[Any]) -> list[Any]:
    """The eigenbasis of every used side's statistics (the first step)."""
    fresh = map_sides(lambda a, _: eigenbasis(a), sides, lambda i, k: stats[i][k])
    return [
        tuple(fresh.get((i, k), q) for k, q in enumerate(pair))
        for i, pair in enumerate(bases)
    ]


def _refreshed(
    stats: list[Any], bases: list[Any], nu: list[jax.Array], sides: list[Any]
) -> tuple[list[Any], list[jax.Array]]:
    """One QR power step per used side; ``nu`` permuted with the columns."""
    fresh = map_sides(
        lambda item, _: qr_eigenbasis(*item),
        sides,
        lambda i, k: (stats[i][k], bases[i][k]),
    )
    out_bases = [list(pair) for pair in bases]
    out_nu = list(nu)
    for (i, k), (q, order) in fresh.items():
        out_bases[i][k] = q
        out_nu[i] = _permute(out_nu[i], order, k)
    return [tuple(pair) for pair in out_bases], out_nu


def _permute(v: jax.Array, order: jax.Array, axis: int) -> jax.Array:
    """``v`` (blocks, rows, cols) with each block's rows or columns reordered."""
    return jax.vmap(lambda x, o: jnp.take(x, o, axis=axis))(v, order)


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    shampoo_beta=optional(DECAY),
    eps=NON_NEGATIVE,
    block_size=POSITIVE_INT,
    precondition_frequency=POSITIVE_INT,
    max_precond_dim=STEPS,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def soap(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float | None = None,
    eps: float = 1e-8,
    block_size: int = 256,
    precondition_frequency: int = 10,
    max_precond_dim: int = 2048,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """SOAP: Adam in the eigenbasis of Shampoo's factors, decoupled decay.

    For each block ``G`` with Shampoo statistics ``L``, ``R`` and their
    eigenbases ``Q_L``, ``Q_R`` (refreshed every ``precondition_frequency``
    steps by one QR power iteration):

    .. math::

       G' = Q_L^T G Q_R,\\quad v' \\leftarrow \\beta_2 v' + (1-\\beta_2) G'^2,
       \\quad u = -\\eta \\left(Q_L \\frac{\\hat m'}{\\sqrt{\\hat v'}
       + \\epsilon} Q_R^T + \\lambda \\theta\\right),

    ``m' = Q_L^T m Q_R`` for Adam's momentum ``m``, with Adam's bias
    corrections. Vectors, scalars and sides above ``max_precond_dim`` get
    plain Adam (one-sided SOAP), so SOAP with ``max_precond_dim=0`` is
    AdamW.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      learning_rate: :math:`\\eta`, a number >= 0 or a schedule (AdamW's
        scale).
      b1: Adam's first-moment decay, in [0, 1). Default 0.95.
      b2: :math:`\\beta_2`, Adam's second-moment decay, in [0, 1).
        Default 0.95.
      shampoo_beta: decay of the statistics ``L``, ``R``, in [0, 1); None
        (default): ``b2``.
      eps: :math:`\\epsilon` >= 0. Default 1e-8.
      block_size: the largest block side, >= 1. Default 256.
      precondition_frequency: steps between eigenbasis refreshes, >= 1.
        Default 10.
      max_precond_dim: sides larger than this (>= 0) keep the identity
        basis. Default 2048.
      weight_decay: :math:`\\lambda` >= 0, decoupled. Default 0.
      mask: which parameters are decayed: a tree of booleans or a function
        of the params; None (default): all.
      weight_dimension_numbers: how leaves become matrices (see
        :func:`shampoo`); None (default): 2-D as they are, leading axes of
        higher ranks merged into the rows.

    Returns:
      A transformation with state ``(SoapState(count, mu, nu, stats,
      bases), decay_state, lr_state)``.

    References:
      Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam",
      2024, arXiv:2409.11321.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.arange(12.0).reshape(4, 3) / 10
      >>> f = lambda p: jnp.sum((p["w"] - target) ** 2)
      >>> tx = tsx.contrib.soap(0.05)
      >>> params = {"w": jnp.zeros((4, 3))}
      >>> state = tx.init(params)
      >>> update = jax.jit(tx.update)
      >>> for _ in range(200):
      ...     updates, state = update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f({'w': jnp.zeros((4, 3))}):.2f} -> {f(params):.4f}")
      loss 5.06 -> 0.0004
    """
    return chain(
        scale_by_soap(
            b1,
            b2,
            shampoo_beta,
            eps,
            block_size,
            precondition_frequency,
            max_precond_dim,
            weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
