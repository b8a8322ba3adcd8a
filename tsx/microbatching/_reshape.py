"""Splitting a batch axis into (microbatch, rows-per-microbatch) axes."""


from typing import Any

import jax

__all__ = ["reshape_batch_axis"]


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Split axis ``axis`` of every leaf into ``(num_microbatches, microbatch_size)``.

    The split is column-major: microbatch ``i`` holds rows ``i, i + n, i + 2n,
    ...`` of the batch (``n`` the number of microbatches). A batch sharded
    along ``axis`` therefore stays sharded along the new ``microbatch_size``
    axis, and the new microbatch axis is replicated; under an
    explicit-sharding mesh the output sharding says so.

    Args:
      tree: arrays that share a batch axis.
      microbatch_size: rows per microbatch; must divide the batch size.
      axis: the batch axis.

    Returns:
      The tree with each leaf's batch axis split in two.

    Raises:
      ValueError: under explicit sharding, if the number of shards of the batch
        axis does not divide ``microbatch_size``.
    """

    def split(x):
        new_shape = (*x.shape[:axis], -1, microbatch_size, *x.shape[axis + 1 :])
        sharding = jax.typeof(x).sharding
        if not sharding.mesh.are_all_axes_explicit:
            return x.reshape(new_shape, order="F")
        spec = sharding.spec
        if len(spec) <= axis:  # the batch axis is not sharded
            new_spec = spec
        else:
            new_spec = jax.P(*spec[:axis], None, spec[axis], *spec[axis + 1 :])
        shards = x.shape[axis] // sharding.shard_shape(x.shape)[axis]
        if microbatch_size % shards != 0:
            raise ValueError(
                f"The batch axis is split over {shards} shards, which must divide "
                f"microbatch_size={microbatch_size}."
            )
        return x.reshape(
            new_shape,
            order="F",
            out_sharding=jax.sharding.NamedSharding(sharding.mesh, new_spec),
        )

    return jax.tree.map(split, tree)
