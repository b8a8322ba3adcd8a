"""PSGD-Kron: preconditioned SGD with Kronecker-factored preconditioners.

For each gradient block ``G`` (``m x n``, see :mod:`tsx.matrix`) PSGD keeps
upper-triangular factors ``Q_L``, ``Q_R`` and preconditions the (debiased,
momentum ``b1``) gradient ``M`` as ``P(M) = Q_L^T Q_L M Q_R^T Q_R``. The
factors are fitted online so that ``P`` approaches the inverse square root of
the gradient's second moment: with ``A = Q_L M Q_R^T`` and, for a Gaussian
probe ``V``, ``B = Q_L^{-T} V Q_R^{-1}``,

.. math::

   Q_L \\leftarrow Q_L - \\frac{\\eta}{\\|A A^T + B B^T\\|}
       \\operatorname{triu}(A A^T - B B^T)\\, Q_L

(and alike for ``Q_R`` with ``A^T A``, ``B^T B``), ``\\|\\cdot\\|`` a lower
bound of the spectral norm. A side larger than ``max_precond_dim`` keeps a
diagonal factor instead (memory ``O(n)``). The factors are updated with
probability ``p_t = max(min_prob, min(max_prob, max_prob *
exp(-decay (t - flat_start))))``: every step at first, rarely later. The
probe and the coin come from a key in the state (deterministic given
``seed``). The step is clipped to an RMS of ``1.1`` per matrix, which puts
learning rates on Adam's scale.

References: Li 2015, "Preconditioned Stochastic Gradient Descent",
arXiv:1512.04202; Li 2018, "Preconditioner on Matrix Lie Group for SGD",
arXiv:1809.10232; the psgd_jax implementation (Kron defaults).
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
    BlockLayout,
    leaf_layouts,
    matrix_view,
    one_at_a_time_on_cpu,
    spectral_norm_lower_bound,
)
from tsx.sharding import auto_axes_update, cond, map_blocks, sharded_like
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    PROBABILITY,
    STEPS,
    hyperparameters,
    integer,
    optional,
)

__all__ = ["KronState", "kron", "scale_by_kron", "update_probability"]

_CLIP_RMS = 1.1


class KronState(NamedTuple):
    """State of :func:`scale_by_kron`.

    Attributes:
      count: steps taken (int32).
      key: the PRNG key (raw ``uint32[2]``) for probes and coins.
      mu: momentum of the gradients (shaped like the params).
      factors: per leaf, ``(Q_L, Q_R)`` stacked over its blocks; a diagonal
        factor is stored as its diagonal.
    """

    count: jax.Array
    key: jax.Array
    mu: Any
    factors: Any


def update_probability(
    step: jax.typing.ArrayLike,
    max_prob: float = 1.0,
    min_prob: float = 0.03,
    decay: float = 0.001,
    flat_start: int = 500,
) -> jax.Array:
    """PSGD's annealed probability of updating the preconditioner at ``step``.

    ``max_prob`` for the first ``flat_start`` steps, then decaying as
    ``max_prob * exp(-decay * (step - flat_start))`` down to ``min_prob``.

    Args:
      step: the step (0-based).
      max_prob: the initial probability.
      min_prob: the floor.
      decay: the exponential rate.
      flat_start: steps at ``max_prob``.
    """
    t = jnp.asarray(step, jnp.float32) - flat_start
    p = max_prob * jnp.exp(-decay * jnp.maximum(t, 0.0))
    return jnp.clip(p, min_prob, max_prob)


def _dense(layout: BlockLayout, max_precond_dim: int) -> tuple[bool, bool]:
    return (
        layout.block_rows <= max_precond_dim,
        layout.block_cols <= max_precond_dim,
    )


def _factor(layout: BlockLayout, n: int, dense: bool, scale: float) -> jax.Array:
    if dense:
        eye = jnp.eye(n, dtype=jnp.float32) * scale
        return jnp.broadcast_to(eye, (layout.num_blocks, n, n))
    return jnp.full((layout.num_blocks, n), scale, jnp.float32)


def _apply(q: jax.Array, x: jax.Array, side: int, transpose: bool) -> jax.Array:
    """``Q x`` (side 0) or ``x Q^T`` (side 1); ``Q^T`` in place of ``Q`` if asked."""
    if q.ndim == 1:  # diagonal
        return q[:, None] * x if side == 0 else x * q[None, :]
    if side == 0:
        return (q.T if transpose else q) @ x
    return x @ (q if transpose else q.T)


def _solve(q: jax.Array, x: jax.Array, side: int) -> jax.Array:
    """``Q^{-T} x`` (side 0) or ``x Q^{-1}`` (side 1) for upper-triangular ``Q``."""
    if q.ndim == 1:
        return x / q[:, None] if side == 0 else x / q[None, :]
    return _upper_solve_t(q, x) if side == 0 else _upper_solve_t(q, x.T).T


@one_at_a_time_on_cpu
def _upper_solve_t(q: jax.Array, x: jax.Array) -> jax.Array:
    return jax.scipy.linalg.solve_triangular(q, x, trans=1, lower=False)


def _fit(q: jax.Array, a: jax.Array, b: jax.Array, side: int, lr: float) -> jax.Array:
    """One PSGD step of factor ``q`` (module docs)."""
    if side == 1:
        a, b = a.T, b.T
    if q.ndim == 1:
        t1, t2 = jnp.sum(a * a, axis=1), jnp.sum(b * b, axis=1)
        norm = jnp.max(t1 + t2)
        return q - lr / jnp.maximum(norm, 1e-30) * (t1 - t2) * q
    t1, t2 = a @ a.T, b @ b.T
    norm = spectral_norm_lower_bound(t1 + t2)
    return q - lr / jnp.maximum(norm, 1e-30) * jnp.triu(t1 - t2) @ q


def _first_scale(
    m: jax.Array, q_l: jax.Array, q_r: jax.Array, first: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The factors times ``mean(M^4)^(-1/16)`` per block on the first step.

    Both factors together give ``P = mean(M^4)^(-1/4) I``, about
    ``1 / RMS(M)`` (the fourth moment is not fooled by a few zeros).
    """
    fourth = jnp.mean(m**4, axis=(-2, -1))
    c = jnp.where(first & (fourth > 0), fourth, 1.0) ** (-1.0 / 16)

    def times(q):
        return q * c.reshape(c.shape + (1,) * (q.ndim - 1))

    return times(q_l), times(q_r)


def _step(item: tuple[jax.Array, ...], lr: float, fit: bool) -> tuple[jax.Array, ...]:
    """``(preconditioned block, new Q_L, new Q_R)`` for one block."""
    m, q_l, q_r, v = item
    if fit:
        a = _apply(q_r, _apply(q_l, m, 0, False), 1, False)
        b = _solve(q_r, _solve(q_l, v, 0), 1)
        q_l, q_r = _fit(q_l, a, b, 0, lr), _fit(q_r, a, b, 1, lr)
    x = _apply(q_l, _apply(q_l, m, 0, False), 0, True)  # Q_L^T Q_L M
    x = _apply(q_r, _apply(q_r, x, 1, False), 1, True)  # ... Q_R^T Q_R
    return x, q_l, q_r


def _clipped(layout: BlockLayout, u: jax.Array) -> jax.Array:
    """``u`` with each matrix of its view scaled to an RMS of at most 1.1."""
    to_batch, from_batch, _ = matrix_view(layout.shape, layout.dim_nums)
    y = to_batch(u)
    rms = jnp.sqrt(jnp.mean(jnp.square(y), axis=(-2, -1), keepdims=True))
    return from_batch(y * jnp.minimum(1.0, _CLIP_RMS / jnp.maximum(rms, 1e-30)))


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    b1=DECAY,
    preconditioner_lr=POSITIVE,
    precond_init_scale=optional(POSITIVE),
    block_size=POSITIVE_INT,
    max_precond_dim=STEPS,
    max_prob=PROBABILITY,
    min_prob=PROBABILITY,
    prob_decay=NON_NEGATIVE,
    flat_start=STEPS,
    seed=integer(0),
    precond_dtype=DTYPE,
)
def scale_by_kron(
    b1: float = 0.9,
    preconditioner_lr: float = 0.1,
    precond_init_scale: float | None = None,
    block_size: int = 256,
    max_precond_dim: int = 2048,
    max_prob: float = 1.0,
    min_prob: float = 0.03,
    prob_decay: float = 0.001,
    flat_start: int = 500,
    seed: int = 0,
    weight_dimension_numbers: Any = None,
    precond_dtype: Any = None,
) -> GradientTransformation:
    """PSGD-Kron's direction (module docs), without learning rate.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      b1: momentum (debiased) of the gradients.
      preconditioner_lr: the factors' step size ``eta``.
      precond_init_scale: the factors start at ``scale^(1/2) * I``, so that
        ``P = scale^2 I``; ``None``: per block, from the first step's
        momentum, ``scale = mean(M^4)^(-1/8)``, so that the first step has an
        RMS of about 1 (as Adam's does).
      block_size: the largest block side.
      max_precond_dim: sides larger than this get a diagonal factor.
      max_prob, min_prob, prob_decay, flat_start: the update probability
        (:func:`update_probability`).
      seed: the PRNG seed of probes and coins.
      weight_dimension_numbers: how leaves become matrices (see
        :func:`tsx.contrib.scale_by_shampoo`).
      precond_dtype: the dtype the factors are stored in (e.g.
        ``jnp.bfloat16``); they are computed in float32. None: float32.
    """
    side_scale = 1.0 if precond_init_scale is None else precond_init_scale**0.5
    stored = jnp.dtype(precond_dtype or jnp.float32)

    def init_fn(params):
        layouts, treedef = leaf_layouts(params, weight_dimension_numbers, block_size)
        factors = [
            tuple(
                _factor(lay, n, d, side_scale).astype(stored)
                for n, d in zip(
                    (lay.block_rows, lay.block_cols),
                    _dense(lay, max_precond_dim),
                    strict=True,
                )
            )
            for lay in layouts
        ]
        return KronState(
            count=jnp.zeros([], jnp.int32),
            key=jax.random.PRNGKey(seed),
            mu=tu.tree_zeros_like(params),
            factors=treedef.unflatten(factors),
        )

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        layouts, treedef = leaf_layouts(updates, weight_dimension_numbers, block_size)
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        m_hat = treedef.flatten_up_to(tu.tree_bias_correction(mu, b1, count))
        factors = [
            tuple(q.astype(jnp.float32) for q in f)
            for f in treedef.flatten_up_to(state.factors)
        ]
        key, coin, probe = jax.random.split(state.key, 3)
        fit = jax.random.uniform(coin) < update_probability(
            state.count, max_prob, min_prob, prob_decay, flat_start
        )
        # One probe per block, keyed by the block's place in the whole tree, so
        # a stacked leaf and its layers as separate leaves draw the same.
        offsets = [0]
        for lay in layouts:
            offsets.append(offsets[-1] + lay.num_blocks)
        items = []
        for lay, m, (q_l, q_r), start in zip(
            layouts, m_hat, factors, offsets, strict=False
        ):
            b = lay.blocks(m.astype(jnp.float32))
            index = start + jnp.arange(lay.num_blocks)
            v = jax.vmap(
                lambda i, shape=b.shape[1:]: jax.random.normal(
                    jax.random.fold_in(probe, i), shape, jnp.float32
                )
            )(index)
            if precond_init_scale is None:
                q_l, q_r = _first_scale(b, q_l, q_r, state.count == 0)
            items.append((b, q_l, q_r, v))

        def run(do_fit):
            return map_blocks(
                lambda item: _step(item, preconditioner_lr, do_fit), items
            )

        results = cond(fit, lambda: run(True), lambda: run(False))
        new_updates = []
        for lay, m, (x, _, _) in zip(layouts, m_hat, results, strict=True):
            u = sharded_like(_clipped(lay, lay.unblocks(x)), m)
            new_updates.append(u.astype(m.dtype))
        return treedef.unflatten(new_updates), KronState(
            count=count,
            key=key,
            mu=mu,
            factors=treedef.unflatten(
                [(q_l.astype(stored), q_r.astype(stored)) for _, q_l, q_r in results]
            ),
        )

    return GradientTransformation(init_fn, auto_axes_update(update_fn))


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    preconditioner_lr=POSITIVE,
    precond_init_scale=optional(POSITIVE),
    block_size=POSITIVE_INT,
    max_precond_dim=STEPS,
    max_prob=PROBABILITY,
    min_prob=PROBABILITY,
    prob_decay=NON_NEGATIVE,
    flat_start=STEPS,
    seed=integer(0),
    precond_dtype=DTYPE,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def kron(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    preconditioner_lr: float = 0.1,
    precond_init_scale: float | None = None,
    block_size: int = 256,
    max_precond_dim: int = 2048,
    max_prob: float = 1.0,
    min_prob: float = 0.03,
    prob_decay: float = 0.001,
    flat_start: int = 500,
    seed: int = 0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    weight_dimension_numbers: Any = None,
    precond_dtype: Any = None,
) -> GradientTransformation:
    """PSGD-Kron: Kronecker-factored preconditioned SGD, decoupled decay.

    With ``M`` the debiased momentum (``b1``) of a block and upper-triangular
    factors ``Q_L``, ``Q_R`` fitted online (probability ``p_t`` per step) so
    that ``P`` approaches the inverse square root of the gradient's second
    moment:

    .. math::

       u = -\\eta \\left(\\operatorname{clip}_{1.1}\\left(Q_L^T Q_L M
       Q_R^T Q_R\\right) + \\lambda\\theta\\right),

    ``clip`` scaling each matrix to an RMS of at most 1.1. The fitting rule,
    the update probability and the memory-saving diagonal factors are in
    :func:`scale_by_kron`.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      learning_rate: :math:`\\eta`, a number >= 0 or a schedule (Adam's
        scale: the first step has an RMS of about 1).
      b1: momentum of the gradients, in [0, 1). Default 0.9.
      preconditioner_lr: step size of the factors' fit, > 0. Default 0.1.
      precond_init_scale: > 0, the factors start at ``scale^(1/2) I``; None
        (default): from the first momentum, ``mean(M^4)^(-1/8)``.
      block_size: the largest block side, >= 1. Default 256.
      max_precond_dim: sides larger than this (>= 0) get a diagonal factor.
        Default 2048.
      max_prob: the update probability before ``flat_start``, in [0, 1].
        Default 1.
      min_prob: the floor of the update probability, in [0, 1].
        Default 0.03.
      prob_decay: the probability's exponential decay rate per step, >= 0.
        Default 0.001.
      flat_start: steps at ``max_prob``, >= 0. Default 500.
      seed: seed (>= 0) of the probes and coins, kept in the state.
        Default 0.
      weight_decay: :math:`\\lambda` >= 0, decoupled. Default 0.
      mask: which parameters are decayed: a tree of booleans or a function
        of the params; None (default): all.
      weight_dimension_numbers: how leaves become matrices (see
        :func:`shampoo`).
      precond_dtype: the dtype the factors are stored in (``jnp.bfloat16``
        halves their memory); they are always computed in float32. None
        (default): float32.

    Returns:
      A transformation with state ``(KronState(count, key, mu, factors),
      decay_state, lr_state)``.

    References:
      Li, "Preconditioned Stochastic Gradient Descent", 2015,
      arXiv:1512.04202; Li, "Preconditioner on Matrix Lie Group for SGD",
      2018, arXiv:1809.10232.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.arange(12.0).reshape(4, 3) / 10
      >>> f = lambda p: jnp.sum((p["w"] - target) ** 2)
      >>> tx = tsx.contrib.kron(0.02)
      >>> params = {"w": jnp.zeros((4, 3))}
      >>> state = tx.init(params)
      >>> update = jax.jit(tx.update)
      >>> for _ in range(200):
      ...     updates, state = update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> # Kron's random probes make the last digits depend on the CPU's kernels.
      >>> start, end = f({"w": jnp.zeros((4, 3))}), f(params)
      >>> print(f"loss {start:.2f} -> below 0.01: {bool(end < 0.01)}")
      loss 5.06 -> below 0.01: True
    """
    return chain(
        scale_by_kron(
            b1,
            preconditioner_lr,
            precond_init_scale,
            block_size,
            max_precond_dim,
            max_prob,
            min_prob,
            prob_decay,
            flat_start,
            seed,
            weight_dimension_numbers,
            precond_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
