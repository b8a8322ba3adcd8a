"""Optimizer state on device meshes: shardings, ZeRO-1, whole-matrix work.

Built on JAX's own sharding API (``Mesh``, ``NamedSharding``, ``jax.jit``),
for Auto and Explicit mesh axes alike:

* :func:`state_shardings` and :func:`init`: where every optimizer-state leaf
  lives, and the state created there (optionally split over a data axis,
  ZeRO-1: ``zero_axis="data"``);
* :func:`logical_shardings`: shardings from Linen's logical axis names;
* :func:`reshard` and :func:`map_matrices`: the one place tsx moves arrays
  between layouts, and runs matrix functions on whole matrices, split over
  devices inside :func:`distribute_matrix_work`.

``tsx.training.TrainState.create(..., zero_axis="data")`` uses all of it.
"""

from tsx.sharding._layout import (
    ZERO_MIN_SIZE,
    init,
    logical_shardings,
    state_shardings,
    zero_spec,
)
from tsx.sharding._placement import (
    cond,
    distribute_matrix_work,
    explicit_spec,
    map_blocks,
    map_matrices,
    reshard,
)

__all__ = [
    "ZERO_MIN_SIZE",
    "cond",
    "distribute_matrix_work",
    "explicit_spec",
    "init",
    "logical_shardings",
    "map_blocks",
    "map_matrices",
    "reshard",
    "state_shardings",
    "zero_spec",
]
