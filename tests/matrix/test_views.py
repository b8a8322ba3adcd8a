"""Leaves as batches of matrices, cut into blocks (tsx.matrix)."""

import jax.numpy as jnp
import numpy as np
import pytest

from tsx.contrib import MuonDimensionNumbers
from tsx.matrix import BlockLayout, leaf_layouts, matrix_view


@pytest.mark.parametrize(
    "shape,dims,flat",
    [
        ((), None, (1, 1, 1)),
        ((7,), None, (1, 1, 7)),
        ((4, 6), None, (1, 4, 6)),
        ((3, 3, 8, 16), None, (1, 72, 16)),  # a convolution: rows merged
        ((5, 4, 6), MuonDimensionNumbers(1, 2), (5, 4, 6)),  # nn.scan layers
        ((4, 5, 6), MuonDimensionNumbers(0, 2), (5, 4, 6)),
    ],
)
def test_matrix_view_shapes_and_round_trip(shape, dims, flat):
    to_batch, from_batch, got = matrix_view(shape, dims)
    assert got == flat
    x = jnp.arange(int(np.prod(shape)), dtype=jnp.float32).reshape(shape)
    assert to_batch(x).shape == flat
    np.testing.assert_array_equal(from_batch(to_batch(x)), x)


def test_stacked_view_puts_each_layer_in_its_own_matrix():
    x = jnp.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    to_batch, _, _ = matrix_view(x.shape, MuonDimensionNumbers(1, 2))
    for layer in range(2):
        np.testing.assert_array_equal(to_batch(x)[layer], x[layer])


def test_blocks_tile_the_matrix_with_zero_padding():
    x = jnp.arange(5 * 7.0).reshape(5, 7)
    layout = BlockLayout.of(x.shape, None, 3)
    assert layout.grid == (2, 3) and layout.num_blocks == 6
    blocks = layout.blocks(x)
    assert blocks.shape == (6, 3, 3)
    np.testing.assert_array_equal(blocks[0], x[:3, :3])
    np.testing.assert_array_equal(blocks[4][:2, :3], x[3:, 3:6])
    np.testing.assert_array_equal(blocks[5][:, 1:], 0.0)  # padding
    np.testing.assert_array_equal(layout.unblocks(blocks), x)


def test_leaf_layouts_accepts_one_dims_a_tree_or_a_function():
    params = {"a": jnp.zeros((2, 3, 4)), "b": jnp.zeros((3,))}
    dims = MuonDimensionNumbers(1, 2)
    tree = {"a": dims, "b": None}
    for spec in (tree, lambda p: tree):
        layouts, _ = leaf_layouts(params, spec, 8)
        assert [(lay.batch, lay.rows, lay.cols) for lay in layouts] == [
            (2, 3, 4),
            (1, 1, 3),
        ]
