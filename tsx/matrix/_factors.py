"""Kronecker-factored preconditioning of blocks: the pieces Shampoo and SOAP share.

A leaf cut into blocks (:class:`tsx.matrix.BlockLayout`) keeps per block a
left statistic ``L = sum G G^T`` and a right one ``R = sum G^T G``; a side
that is not preconditioned keeps a ``1 x 1`` placeholder (its ``sides`` flag
is False). Shampoo takes inverse roots of the statistics, SOAP their
eigenbases; both then multiply the blocks from the left and the right.

Every function here batches across the whole tree: the work of all leaves
with the same kind of blocks goes through one :func:`tsx.sharding.map_blocks`
call, which stacks same-shaped tiles and splits them over devices inside
:func:`tsx.sharding.distribute_matrix_work`.
"""

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from tsx.sharding import map_blocks

__all__ = [
    "Sides",
    "map_by_sides",
    "map_sides",
    "two_sided",
    "update_statistics",
]

# Per leaf: whether its (left, right) side is preconditioned.
Sides = tuple[bool, bool]
_KINDS: tuple[Sides, ...] = ((True, True), (True, False), (False, True))


def update_statistics(
    stats: Sequence[tuple[jax.Array, jax.Array]],
    blocks: Sequence[jax.Array | None],
    sides: Sequence[Sides],
    beta: jax.typing.ArrayLike,
) -> list[tuple[jax.Array, jax.Array]]:
    """``beta * S + (1 - beta) * Gram`` on each used side of each leaf.

    The left Gram matrix of blocks ``G`` is ``G G^T``, the right one
    ``G^T G``; unused sides (and leaves without blocks) keep their statistic.

    Args:
      stats: per leaf, its ``(left, right)`` statistics, stacked over blocks.
      blocks: per leaf, its gradient blocks ``(blocks, rows, cols)`` (None
        for a leaf without a used side).
      sides: per leaf, which sides are used.
      beta: the decay of the statistics.
    """

    def gram(b: jax.Array, side: int) -> jax.Array:
        t = jnp.swapaxes(b, -1, -2)
        return b @ t if side == 0 else t @ b

    return [
        tuple(
            beta * s + (1 - beta) * gram(b, k) if used[k] else s
            for k, s in enumerate(pair)
        )
        for pair, b, used in zip(stats, blocks, sides, strict=True)
    ]


def two_sided(
    x: jax.Array, left: jax.Array, right: jax.Array, used: Sides
) -> jax.Array:
    """``left @ x @ right``, each factor only where its side is used.

    Args:
      x: a block (or a stack of blocks).
      left: the left factor (a root, a basis or its transpose).
      right: the right factor.
      used: which of the two factors apply.
    """
    if used[0]:
        x = left @ x
    if used[1]:
        x = x @ right
    return x


def map_sides(
    fn: Callable[[Any, Hashable], Any],
    sides: Sequence[Sides],
    item: Callable[[int, int], Any],
    group: Callable[[Sides], Hashable] = lambda used: None,
) -> dict[tuple[int, int], Any]:
    """``fn(item(i, k), group(sides[i]))`` for each used side ``k`` of each leaf ``i``.

    All items of one group value run in one :func:`~tsx.sharding.map_blocks`
    batch.

    Args:
      fn: a function of one tile's item and its group's value.
      sides: per leaf, which sides are used.
      item: ``(leaf, side) -> stacked item`` (e.g. that side's statistics).
      group: splits the work into batches by a value of the leaf's sides
        (e.g. the root order, which depends on how many sides are used).

    Returns:
      ``{(leaf, side): result}``.
    """
    where: dict[Hashable, list[tuple[int, int]]] = {}
    for i, used in enumerate(sides):
        for k in (0, 1):
            if used[k]:
                where.setdefault(group(used), []).append((i, k))
    out: dict[tuple[int, int], Any] = {}
    for value, places in where.items():
        results = map_blocks(
            lambda it, v=value: fn(it, v), [item(i, k) for i, k in places]
        )
        out.update(zip(places, results, strict=True))
    return out


def map_by_sides(
    fn: Callable[[Any, Sides], Any],
    sides: Sequence[Sides],
    items: Sequence[Any],
) -> list[Any]:
    """``fn(item, sides)`` for every leaf with a used side, batched by kind.

    Leaves with the same used sides (both, left only, right only) run in one
    :func:`~tsx.sharding.map_blocks` batch across the tree.

    Args:
      fn: a function of one tile's item and the leaf's sides.
      sides: per leaf, which sides are used.
      items: per leaf, its stacked item (ignored where no side is used).

    Returns:
      Per leaf, the stacked result, or None where no side is used.
    """
    out: list[Any] = [None] * len(items)
    for kind in _KINDS:
        where = [i for i, used in enumerate(sides) if used == kind]
        results = map_blocks(
            lambda item, kind=kind: fn(item, kind), [items[i] for i in where]
        )
        for i, r in zip(where, results, strict=True):
            out[i] = r
    return out
