"""GaLore: run an optimizer on low-rank projections of the gradients.

Zhao et al. (2024), "GaLore: Memory-Efficient LLM Training by Gradient
Low-Rank Projection", arXiv:2403.03507. A matrix gradient :math:`G \\in
\\mathbb{R}^{m\\times n}` is projected onto its top-:math:`r` singular
subspace, the base optimizer (Adam by default) keeps its moments for the small
:math:`r`-dimensional proxy, and its output is projected back:

.. math::

   m \\ge n:\\; R = P^\\top G,\\; U = \\alpha P\\, \\rho(R); \\qquad
   m < n:\\; R = G Q,\\; U = \\alpha\\, \\rho(R)\\, Q^\\top,

with :math:`P` (:math:`Q`) the first :math:`r` left (right) singular vectors
of :math:`G`, recomputed by SVD every ``update_proj_gap`` steps (at steps 0,
gap, 2 gap, ...), :math:`\\rho` the base optimizer and :math:`\\alpha` =
``scale``. Tensors of rank > 2 are first reshaped to matrices following their
:class:`GaLoreDimensionNumbers`; parameters without dimension numbers (by
default, everything that is not 2-D) go to the base optimizer at full size.
"""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx._base import GradientTransformation, OptState, Params, ScalarOrSchedule
from tsx._combine import chain
from tsx.matrix import (
    DIMENSION_NUMBERS,
    DimensionNumbers,
    is_dimension_numbers,
    matrix_axes,
    matrix_view,
    resolve_dimension_numbers,
)
from tsx.optimizers import scale_by_adam
from tsx.sharding import auto_axes_update, map_matrices
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
    optional,
)

__all__ = [
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "galore",
    "scale_by_galore",
]

ReshapeFn = Callable[[jax.Array], jax.Array]


# Optax's name for tsx.matrix.DimensionNumbers (the same class).
GaLoreDimensionNumbers = DimensionNumbers
GaLoreDimNumsOrFn = DimensionNumbers | Params | Callable[[Params], Params | None]


class GaLoreState(NamedTuple):
    """State of :func:`scale_by_galore`.

    Attributes:
      count: steps taken (int32).
      base_optimizer_state: the base optimizer's state, built on the
        low-rank proxies (full-size leaves where no projection applies).
      projector: per leaf, the projection matrix (``(m, r)`` or ``(n, r)``),
        or an empty ``(0, 0)`` array where no projection applies.
    """

    count: jax.Array
    base_optimizer_state: OptState
    projector: Any


def _is_dim_nums_or_none(x: Any) -> bool:
    return x is None or is_dimension_numbers(x)


def _as_matrix(
    x: jax.Array, dim_nums: DimensionNumbers
) -> tuple[ReshapeFn, ReshapeFn]:
    """Functions flattening ``x`` to ``(rows, cols)`` and restoring it."""
    if x.ndim < 2:
        raise ValueError(f"GaLore needs tensors of rank >= 2, got shape {x.shape}.")
    batch, rows, cols = matrix_axes(x.shape, dim_nums)
    if batch:
        raise ValueError(
            f"GaLore dimension numbers must name every axis: reduction {rows}, "
            f"output {cols} for a tensor of rank {x.ndim}."
        )
    to_batch, from_batch, _ = matrix_view(x.shape, dim_nums)
    return (lambda y: to_batch(y)[0]), (lambda y: from_batch(y[None]))


@hyperparameters(
    rank=POSITIVE_INT,
    update_proj_gap=POSITIVE_INT,
    scale=NON_NEGATIVE,
    base_optimizer=optional(TRANSFORMATION),
    weight_dimension_numbers=DIMENSION_NUMBERS,
)
def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: GaLoreDimNumsOrFn | None = None,
) -> GradientTransformation:
    """Run ``base_optimizer`` on GaLore's low-rank gradient projections.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      rank: projection rank :math:`r` (capped at ``min(m, n)`` per matrix).
      update_proj_gap: steps between SVD refreshes of the projectors (> 0).
      scale: :math:`\\alpha`, multiplies the projected-back update.
      base_optimizer: transformation run on the projections (default
        :func:`tsx.scale_by_adam`); it gets no ``params``.
      weight_dimension_numbers: which leaves are projected and how they are
        viewed as matrices: ``None`` projects exactly the 2-D leaves; one
        :class:`GaLoreDimensionNumbers` applies to every leaf of rank >= 2; a
        tree (with ``None`` for unprojected leaves) or a function of the
        params returning such a tree gives per-leaf control.
    """
    if base_optimizer is None:
        base_optimizer = scale_by_adam()

    def dim_nums_for(tree):
        spec = weight_dimension_numbers
        if spec is None:
            return jax.tree.map(
                lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, tree
            )
        spec = resolve_dimension_numbers(spec, tree)
        if is_dimension_numbers(spec):
            return jax.tree.map(lambda p: spec if p.ndim >= 2 else None, tree)
        return spec

    def split_pairs(tree, pairs):
        return jax.tree.transpose(
            jax.tree.structure(tree), jax.tree.structure((0, 0)), pairs
        )

    def shapes(p, dim_nums):
        """(empty projector, low-rank proxy) for initialising the states."""
        if dim_nums is None:
            return jnp.zeros((0, 0), dtype=p.dtype), jnp.zeros_like(p)
        to_matrix, _ = _as_matrix(p, dim_nums)
        m, n = to_matrix(p).shape
        r = min(rank, m, n)
        if m >= n:
            return jnp.zeros((m, r), p.dtype), jnp.zeros((r, n), p.dtype)
        return jnp.zeros((n, r), p.dtype), jnp.zeros((m, r), p.dtype)

    def init_fn(params):
        if not jax.tree.leaves(params):
            return GaLoreState(
                count=jnp.zeros([], jnp.int32),
                base_optimizer_state=base_optimizer.init(params),
                projector=params,
            )
        pairs = jax.tree.map(
            shapes, params, dim_nums_for(params), is_leaf=_is_dim_nums_or_none
        )
        projectors, proxies = split_pairs(params, pairs)
        return GaLoreState(
            count=jnp.zeros([], jnp.int32),
            base_optimizer_state=base_optimizer.init(proxies),
            projector=projectors,
        )

    def update_fn(updates, state, params=None):
        del params
        refresh = (state.count % update_proj_gap) == 0
        dim_nums = dim_nums_for(updates)

        def projected(item, key):
            # On the whole matrix; the SVD in float32 whatever the dtype.
            g2, old = item
            r, left = key

            def fresh():
                u, _, vh = jnp.linalg.svd(g2.astype(jnp.float32), full_matrices=False)
                return (u[:, :r] if left else vh[:r, :].T).astype(g2.dtype)

            projector = jax.lax.cond(refresh, fresh, lambda: old)
            return (projector.T @ g2 if left else g2 @ projector), projector

        def project(g, old, dn):
            if dn is None:
                return g, old
            to_matrix, _ = _as_matrix(g, dn)
            g2 = to_matrix(g)
            m, n = g2.shape
            return map_matrices(projected, [(g2, old)], [(min(rank, m, n), m >= n)])[0]

        def project_back(low, projector, g, dn):
            if dn is None:
                return low
            to_matrix, from_matrix = _as_matrix(g, dn)
            m, n = to_matrix(g).shape
            full = projector @ low if m >= n else low @ projector.T
            return (scale * from_matrix(full)).astype(g.dtype)

        pairs = jax.tree.map(
            project, updates, state.projector, dim_nums, is_leaf=_is_dim_nums_or_none
        )
        low_rank, projectors = split_pairs(updates, pairs)
        low_updates, base_state = base_optimizer.update(
            low_rank, state.base_optimizer_state, None
        )
        new_updates = jax.tree.map(
            project_back,
            low_updates,
            projectors,
            updates,
            dim_nums,
            is_leaf=_is_dim_nums_or_none,
        )
        return new_updates, GaLoreState(
            count=numerics.safe_int32_increment(state.count),
            base_optimizer_state=base_state,
            projector=projectors,
        )

    return GradientTransformation(init_fn, auto_axes_update(update_fn))


@hyperparameters(
    learning_rate=LEARNING_RATE,
    rank=POSITIVE_INT,
    update_proj_gap=POSITIVE_INT,
    scale=NON_NEGATIVE,
    base_optimizer=optional(TRANSFORMATION),
    weight_decay=NON_NEGATIVE,
    mask=MASK,
    weight_dimension_numbers=DIMENSION_NUMBERS,
)
def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
    weight_dimension_numbers: GaLoreDimNumsOrFn | None = None,
) -> GradientTransformation:
    r"""GaLore: an optimizer run on low-rank projections of matrix gradients.

    .. math::

       R = P^\top G, \qquad
       u = -\eta_t \left( \alpha\, P\, \rho(R) + \lambda\, \theta \right)

    for an :math:`m \times n` gradient :math:`G` with :math:`m \ge n`
    (:math:`R = G Q` and :math:`\rho(R) Q^\top` otherwise), where :math:`P`
    (:math:`Q`) holds the top ``rank`` singular vectors of :math:`G`, refreshed
    every ``update_proj_gap`` steps, and :math:`\rho` is the base optimizer,
    whose moments have the small projected shape (see the module
    documentation).

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      rank: :math:`r`, the projection rank (an int >= 1). Default 128.
      update_proj_gap: steps between SVD refreshes (an int >= 1). Default 200.
      scale: :math:`\alpha` >= 0, multiplies the projected-back update.
        Default 1.
      base_optimizer: the transformation :math:`\rho` run in the projected
        space; None (default): Adam without a learning rate.
      weight_decay: :math:`\lambda` >= 0. Default 0.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      weight_dimension_numbers: which dimensions of each parameter form the
        matrix (:class:`GaLoreDimensionNumbers`, a tree of them with None for
        parameters left full-size, or a function of the params); None
        (default): 2-D parameters.

    Returns:
      A transformation with state ``(GaLoreState(count, base_optimizer_state,
      projector), decay_state, lr_state)``; the base optimizer's moments have
      the projected shapes (``r x n`` for an ``m x n`` matrix with ``m >= n``).

    References:
      Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
      Projection", ICML 2024, arXiv:2403.03507.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.outer(jnp.arange(1.0, 5.0), jnp.ones(3))  # a rank-1 4x3 matrix
      >>> f = lambda p: jnp.sum((p["w"] - target) ** 2)
      >>> tx = tsx.contrib.galore(learning_rate=0.1, rank=1, update_proj_gap=10)
      >>> params = {"w": jnp.zeros((4, 3))}
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     return tsx.apply_updates(params, updates), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> print(f"loss {f({'w': jnp.zeros((4, 3))}):.2f} -> {f(params):.4f}")
      loss 90.00 -> 0.0003
    """
    return chain(
        scale_by_galore(
            rank=rank,
            update_proj_gap=update_proj_gap,
            scale=scale,
            base_optimizer=base_optimizer,
            weight_dimension_numbers=weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
