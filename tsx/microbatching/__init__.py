"""Microbatching: evaluate functions and gradients on large batches in pieces.

The names of ``optax.microbatching``.
"""

from tsx.microbatching.accumulators import AccumulationType, Accumulator
from tsx.microbatching.grad import micro_grad
from tsx.microbatching.microbatch import microbatch
from tsx.microbatching.reshape import reshape_batch_axis
from tsx.microbatching.vmap import micro_vmap

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]
