"""Microbatching: evaluate functions and gradients on large batches in pieces.

The names of ``optax.microbatching``.
"""

from tsx import _module_aliases
from tsx.microbatching._accumulators import AccumulationType, Accumulator
from tsx.microbatching._grad import micro_grad
from tsx.microbatching._microbatch import microbatch
from tsx.microbatching._reshape import reshape_batch_axis
from tsx.microbatching._vmap import micro_vmap

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
