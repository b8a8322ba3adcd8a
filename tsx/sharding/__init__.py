"""Optimizer state on device meshes: shardings, ZeRO-1, whole-matrix work.

Built on JAX's own sharding API (``Mesh``, ``NamedSharding``, ``jax.jit``),
for Auto and Explicit mesh axes alike:

* :func:`state_shardings` and :func:`init`: where every optimizer-state leaf
  lives, and the state created there (optionally split over a data axis,
  ZeRO-1: ``zero_axis="data"``);
* :func:`logical_shardings`: shardings from Linen's logical axis names;
* :func:`reshard` (with :func:`gathered`, :func:`sharded_like` and
  :func:`zeros_of_type` built on it): the one place tsx moves arrays between
  layouts;
* :func:`map_matrices` and :func:`map_blocks`: matrix functions on whole
  matrices, split over devices inside :func:`distribute_matrix_work`.

``tsx.training.TrainState.create(..., zero_axis="data")`` uses all of it.
"""

from tsx.sharding._layout import (
    ZERO_MIN_SIZE,
    Layout,
    init,
    logical_shardings,
    state_shardings,
    zero_spec,
)
from tsx.sharding._placement import (
    auto_axes_update,
    cond,
    distribute_matrix_work,
    explicit_axes,
    explicit_spec,
    gathered,
    map_blocks,
    map_matrices,
    matrix_owners,
    reshard,
    sharded_like,
    zeros_of_type,
)

__all__ = [
    "ZERO_MIN_SIZE",
    "Layout",
    "auto_axes_update",
    "cond",
    "distribute_matrix_work",
    "explicit_axes",
    "explicit_spec",
    "gathered",
    "init",
    "logical_shardings",
    "map_blocks",
    "map_matrices",
    "matrix_owners",
    "reshard",
    "sharded_like",
    "state_shardings",
    "zero_spec",
    "zeros_of_type",
]
