"""Parameters seen as batches of matrices, and matrices cut into blocks.

A leaf of any rank becomes ``(batch, rows, cols)``:

* with dimension numbers (:class:`tsx.matrix.DimensionNumbers`, also named
  ``tsx.contrib.MuonDimensionNumbers``), those axes are the rows and the
  columns and every other axis is a batch axis: a stacked ``(L, m, n)``
  kernel of ``nn.scan`` with ``reduction_axis=1, output_axis=2`` is ``L``
  independent ``(m, n)`` matrices;
* without, a matrix is itself, a higher-rank kernel merges every axis but the
  last into the rows (a ``(3, 3, 64, 128)`` convolution is ``576 x 128``), a
  vector is one row and a scalar a ``1 x 1`` matrix.

:class:`BlockLayout` then cuts each matrix into tiles of at most
``block_size x block_size`` (zero-padded at the edges), so that
preconditioners stay small; blocks of one shape from anywhere in the tree can
be stacked and processed together.
"""


import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx.matrix._dimension_numbers import (
    is_dimension_numbers,
    matrix_axes,
    resolve_dimension_numbers,
)
from tsx.sharding import gathered, sharded_like
from tsx.tree_utils import tree_unbox

__all__ = ["BlockLayout", "matrix_view"]

ReshapeFn = Callable[[jax.Array], jax.Array]


def matrix_view(
    shape: tuple[int, ...], dim_nums: Any = None
) -> tuple[ReshapeFn, ReshapeFn, tuple[int, int, int]]:
    """``(to_batch, from_batch, (batch, rows, cols))`` for arrays of ``shape``.

    Args:
      shape: the leaf's shape.
      dim_nums: None, or a :class:`DimensionNumbers` (see
        :func:`matrix_axes`).

    Raises:
      ValueError: when the row and column axes overlap.
    """
    ndim = len(shape)
    batch, rows, cols = matrix_axes(shape, dim_nums)
    order = batch + rows + cols
    inverse = tuple(sorted(range(ndim), key=lambda i: order[i]))
    permuted = tuple(shape[a] for a in order)
    flat = (
        math.prod(shape[a] for a in batch),
        math.prod(shape[a] for a in rows),
        math.prod(shape[a] for a in cols),
    )

    def to_batch(x: jax.Array) -> jax.Array:
        return x.transpose(order).reshape(flat)

    def from_batch(y: jax.Array) -> jax.Array:
        return y.reshape(permuted).transpose(inverse)

    return to_batch, from_batch, flat


class BlockLayout(NamedTuple):
    """How one leaf is cut into ``(blocks, rows, cols)`` tiles (static).

    Attributes:
      shape: the leaf's shape.
      dim_nums: its dimension numbers (or None).
      batch: the number of matrices in its matrix view.
      rows: their rows.
      cols: their columns.
      block_rows: the tile's rows, ``min(rows, block_size)``.
      block_cols: the tile's columns, ``min(cols, block_size)``.
    """

    shape: tuple[int, ...]
    dim_nums: Any
    batch: int
    rows: int
    cols: int
    block_rows: int
    block_cols: int

    @classmethod
    def of(
        cls, shape: tuple[int, ...], dim_nums: Any, block_size: int
    ) -> "BlockLayout":
        """The layout of a leaf of ``shape`` with tiles of ``block_size``."""
        _, _, (b, m, n) = matrix_view(tuple(shape), dim_nums)
        return cls(
            tuple(shape), dim_nums, b, m, n, min(m, block_size), min(n, block_size)
        )

    @property
    def grid(self) -> tuple[int, int]:
        """Tiles along the rows and along the columns."""
        return -(-self.rows // self.block_rows), -(-self.cols // self.block_cols)

    @property
    def num_blocks(self) -> int:
        """How many tiles the whole leaf becomes."""
        i, j = self.grid
        return self.batch * i * j

    def sides(self, max_dim: int) -> tuple[bool, bool]:
        """Which sides of the blocks get a matrix preconditioner.

        None for vectors and scalars (one side of size 1); otherwise each
        side whose block is at most ``max_dim`` long.
        """
        if self.rows == 1 or self.cols == 1:
            return False, False
        return self.block_rows <= max_dim, self.block_cols <= max_dim

    def side_statistics(self, max_dim: int) -> tuple[jax.Array, jax.Array]:
        """Zero ``(left, right)`` statistics per block; ``(blocks, 1, 1)`` when unused.

        An unused side keeps a ``1 x 1`` placeholder per block, so that the
        two sides of a leaf batch together block by block.
        """
        return tuple(
            jnp.zeros(
                (self.num_blocks, n, n) if used else (self.num_blocks, 1, 1),
                jnp.float32,
            )
            for n, used in zip(
                (self.block_rows, self.block_cols), self.sides(max_dim), strict=True
            )
        )

    def blocks(self, x: jax.Array) -> jax.Array:
        """``x`` as ``(num_blocks, block_rows, block_cols)``, zero-padded."""
        to_batch, _, _ = matrix_view(self.shape, self.dim_nums)
        y = to_batch(gathered(x))  # whole: blocks cut across any sharding
        (i, j), bm, bn = self.grid, self.block_rows, self.block_cols
        y = jnp.pad(y, ((0, 0), (0, i * bm - self.rows), (0, j * bn - self.cols)))
        y = y.reshape(self.batch, i, bm, j, bn).transpose(0, 1, 3, 2, 4)
        return y.reshape(self.num_blocks, bm, bn)

    def unblocks(self, blocks: jax.Array, like: jax.Array | None = None) -> jax.Array:
        """The inverse of :meth:`blocks` (padding dropped).

        With ``like`` (an array of the leaf's shape), the result takes its
        layout where that is part of the type (an Explicit mesh).
        """
        _, from_batch, _ = matrix_view(self.shape, self.dim_nums)
        (i, j), bm, bn = self.grid, self.block_rows, self.block_cols
        y = blocks.reshape(self.batch, i, j, bm, bn).transpose(0, 1, 3, 2, 4)
        y = y.reshape(self.batch, i * bm, j * bn)[:, : self.rows, : self.cols]
        return from_batch(y) if like is None else sharded_like(from_batch(y), like)


def leaf_layouts(
    tree: Any, dim_nums: Any, block_size: int
) -> tuple[list[BlockLayout], Any]:
    """``(layouts, treedef)``: a :class:`BlockLayout` per leaf of ``tree``.

    Args:
      tree: the parameters (or updates).
      dim_nums: None, one dimension-numbers object for every leaf, a tree of
        them (None for a leaf: the default view) or a function of ``tree``
        returning either.
      block_size: the largest tile side.

    The treedef is that of :func:`tsx.tree_utils.tree_unbox` of ``tree``:
    per-leaf factor states are never stored inside Flax NNX ``Variable`` s.
    """
    tree = tree_unbox(tree)
    dim_nums = resolve_dimension_numbers(dim_nums, tree)
    leaves, treedef = jax.tree.flatten(tree)
    if dim_nums is None or is_dimension_numbers(dim_nums):
        per_leaf = [dim_nums] * len(leaves)
    else:
        per_leaf = treedef.flatten_up_to(dim_nums)
    layouts = [
        BlockLayout.of(tuple(x.shape), d, block_size)
        for x, d in zip(leaves, per_leaf, strict=True)
    ]
    return layouts, treedef


def identities_like(stats: jax.Array) -> jax.Array:
    """Identity matrices shaped like a stack of square matrices."""
    return jnp.broadcast_to(jnp.eye(stats.shape[-1], dtype=jnp.float32), stats.shape)
