"""``jax.vmap`` with microbatching and optional reduction over the batch."""


from collections.abc import Callable, Sequence
from typing import Any

import jax

from tsx.microbatching._accumulators import (
    AccumulationType,
    Accumulator,
    resolve_accumulator,
)
from tsx.microbatching._microbatch import microbatch

__all__ = ["micro_vmap"]


def micro_vmap(
    fun: Callable[..., Any],
    in_axes: int | Sequence[int] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable[..., Callable] = jax.vmap,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., Any]:
    """``vmap_fn(fun, in_axes)`` evaluated ``microbatch_size`` rows at a time.

    Each microbatch is vectorized with ``vmap_fn``; its per-row outputs are
    reduced with the accumulator's ``aggregate`` and the microbatches are then
    combined by :func:`microbatch`. With the default ``CONCAT`` the result is
    what ``jax.vmap(fun, in_axes)`` returns; ``SUM`` or ``MEAN`` reduce over
    the batch without ever holding all per-row outputs. Keyword arguments are
    mapped along their axis 0, as in ``jax.vmap``.

    Args:
      fun: the function to map.
      in_axes: the mapped axis of each positional argument (``None`` for an
        unmapped one); a single int is for a one-argument ``fun``.
      out_axes: must be 0.
      microbatch_size: rows per microbatch; ``None`` maps the whole batch at
        once.
      vmap_fn: the vectorizing map, with ``jax.vmap``'s signature.
      accumulator: how outputs are combined over the batch (a prefix tree of
        the outputs is allowed).
      num_real_microbatches: stop after this many microbatches.

    Returns:
      The mapped function.

    Raises:
      NotImplementedError: if ``out_axes`` is not 0.
    """
    if out_axes != 0:
        raise NotImplementedError("micro_vmap supports only out_axes=0.")
    axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    # vmap maps every keyword argument along axis 0, so they travel together
    # as one batched keyword, ``kwargs``.
    def map_and_reduce(*args, kwargs):
        outputs = vmap_fn(fun, axes, out_axes)(*args, **kwargs)
        rows = jax.tree.leaves(outputs)[0].shape[0]
        # aggregate does not depend on the count; rows just satisfies the API.
        return resolve_accumulator(accumulator, rows).aggregate(outputs)

    mapped = microbatch(
        map_and_reduce,
        argnums=tuple(i for i, axis in enumerate(axes) if axis is not None),
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        argnames="kwargs",
        in_axes=tuple(axis for axis in axes if axis is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )

    def wrapped(*args, **kwargs):
        return mapped(*args, kwargs=kwargs)

    return wrapped
