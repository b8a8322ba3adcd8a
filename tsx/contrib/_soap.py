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
from tsx.contrib._muon import _DIMENSION_NUMBERS
from tsx.matrix import eigenbasis, identities_like, leaf_layouts, qr_eigenbasis
from tsx.optimizers import ScaleByAdamState, scale_by_adam
from tsx.sharding import cond, map_blocks
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
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
    """State of :func:`scale_by_soap`.

    Attributes:
      count: steps taken (int32).
      mu: first moment, in the parameters' basis (shaped like the params).
      nu: second moment: in the eigenbasis, per block, for preconditioned
        leaves; shaped like the param for the others.
      stats: per leaf, Shampoo's ``(L, R)`` stacked over its blocks.
      bases: per leaf, the eigenbases ``(Q_L, Q_R)`` in use.
    """

    count: jax.Array
    mu: Any
    nu: Any
    stats: Any
    bases: Any


def _rotate(item: tuple[jax.Array, ...], left: bool, right: bool, back: bool):
    x, q_l, q_r = item
    if left:
        x = (q_l if back else q_l.T) @ x
    if right:
        x = x @ (q_r.T if back else q_r)
    return x


@hyperparameters(
    weight_dimension_numbers=_DIMENSION_NUMBERS,
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
    """
    beta_s = b2 if shampoo_beta is None else shampoo_beta
    adam = scale_by_adam(b1, b2, eps)

    def init_fn(params):
        layouts, treedef = leaf_layouts(params, weight_dimension_numbers, block_size)
        leaves = treedef.flatten_up_to(params)
        sides = [lay.sides(max_precond_dim) for lay in layouts]
        stats = [lay.side_statistics(max_precond_dim) for lay in layouts]
        nu = [
            jnp.zeros((lay.num_blocks, lay.block_rows, lay.block_cols), jnp.float32)
            if any(u)
            else jnp.zeros_like(x)
            for lay, u, x in zip(layouts, sides, leaves, strict=True)
        ]
        return SoapState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params),
            nu=treedef.unflatten(nu),
            stats=treedef.unflatten(stats),
            bases=treedef.unflatten(
                [(identities_like(a), identities_like(b)) for a, b in stats]
            ),
        )

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        layouts, treedef = leaf_layouts(updates, weight_dimension_numbers, block_size)
        sides = [lay.sides(max_precond_dim) for lay in layouts]
        grads = treedef.flatten_up_to(updates)
        mus = treedef.flatten_up_to(state.mu)
        nus = treedef.flatten_up_to(state.nu)
        plain = [i for i, u in enumerate(sides) if not any(u)]
        # Leaves without a preconditioned side run Adam itself.
        adam_updates, adam_state = adam.update(
            [grads[i] for i in plain],
            ScaleByAdamState(
                state.count, [mus[i] for i in plain], [nus[i] for i in plain]
            ),
        )
        new_updates = list(grads)
        new_mu, new_nu = list(mus), list(nus)
        for j, i in enumerate(plain):
            new_updates[i] = adam_updates[j]
            new_mu[i], new_nu[i] = adam_state.mu[j], adam_state.nu[j]
        stats = [tuple(s) for s in treedef.flatten_up_to(state.stats)]
        bases = [tuple(q) for q in treedef.flatten_up_to(state.bases)]
        blocks = [
            lay.blocks(g.astype(jnp.float32)) if any(u) else None
            for lay, g, u in zip(layouts, grads, sides, strict=True)
        ]

        def gram(b, side):
            t = jnp.swapaxes(b, -1, -2)
            return b @ t if side == 0 else t @ b

        stats = [
            tuple(
                beta_s * s + (1 - beta_s) * gram(b, k) if u[k] else s
                for k, s in enumerate(pair)
            )
            for pair, b, u in zip(stats, blocks, sides, strict=True)
        ]
        used = [(i, k) for i, u in enumerate(sides) for k in (0, 1) if u[k]]

        def first_bases():
            out = [list(q) for q in bases]
            results = map_blocks(eigenbasis, [stats[i][k] for i, k in used])
            for (i, k), q in zip(used, results, strict=True):
                out[i][k] = q
            return [tuple(q) for q in out]

        first = state.count == 0
        bases = cond(first, first_bases, lambda: bases)
        # Preconditioned leaves skip their first step (module docs), so their
        # moments have seen one gradient fewer than ``count``.
        seen = jnp.maximum(count - 1, 1)
        correction = 1 - jnp.asarray(b2, jnp.float32) ** seen
        for i, (lay, g, u) in enumerate(zip(layouts, grads, sides, strict=True)):
            if not any(u):
                continue
            mu = tu.tree_update_moment(g, mus[i], b1, 1)
            m_hat = tu.tree_bias_correction(mu, b1, seen)
            q_l, q_r = bases[i]
            g_rot, m_rot = map_blocks(
                lambda item, u=u: _rotate(item, *u, back=False),
                [
                    (blocks[i], q_l, q_r),
                    (lay.blocks(m_hat.astype(jnp.float32)), q_l, q_r),
                ],
            )
            v = b2 * nus[i] + (1 - b2) * jnp.square(g_rot)
            step = m_rot / (jnp.sqrt(v / correction) + eps)
            (back,) = map_blocks(
                lambda item, u=u: _rotate(item, *u, back=True), [(step, q_l, q_r)]
            )
            back = lay.unblocks(back, like=g).astype(g.dtype)
            new_updates[i] = jnp.where(first, jnp.zeros_like(back), back)
            new_mu[i] = jnp.where(first, mus[i], mu)
            new_nu[i] = jnp.where(first, nus[i], v)

        def refreshed():
            out_bases = [list(q) for q in bases]
            out_nu = list(new_nu)
            results = map_blocks(
                lambda item: qr_eigenbasis(*item),
                [(stats[i][k], bases[i][k]) for i, k in used],
            )
            for (i, k), (q, order) in zip(used, results, strict=True):
                out_bases[i][k] = q
                out_nu[i] = _permute(out_nu[i], order, 0 if k == 0 else 1)
            return [tuple(q) for q in out_bases], out_nu

        refresh = (count % precondition_frequency == 0) & (state.count > 0)
        bases, new_nu = cond(refresh, refreshed, lambda: (bases, new_nu))
        return treedef.unflatten(new_updates), SoapState(
            count=count,
            mu=treedef.unflatten(new_mu),
            nu=treedef.unflatten(new_nu),
            stats=treedef.unflatten(stats),
            bases=treedef.unflatten(bases),
        )

    return GradientTransformation(init_fn, update_fn)


def _permute(v: jax.Array, order: jax.Array, axis: int) -> jax.Array:
    """``v`` (blocks, rows, cols) with each block's rows or columns reordered."""
    return jax.vmap(lambda x, o: jnp.take(x, o, axis=axis))(v, order)


@hyperparameters(
    weight_dimension_numbers=_DIMENSION_NUMBERS,
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
