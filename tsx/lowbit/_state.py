"""``quantized_state``: any optimizer with its large state leaves in 16, 8 or 4 bits."""


import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)
from tsx.lowbit import _storage
from tsx.lowbit._codes import QuantizedArray
from tsx.numerics import safe_int32_increment
from tsx.tree_utils import tree_unbox
from tsx.validation import choice, hyperparameters, integer, optional, transformation

__all__ = ["LowBitState", "quantized_state", "state_bytes"]


class LowBitState(NamedTuple):
    """State of :func:`quantized_state`.

    Attributes:
      count: updates so far (int32); keys the stochastic rounding of ``bits=16``.
      inner_state: the inner transformation's state, its large float leaves
        replaced by :class:`~tsx.lowbit.QuantizedArray`.
    """

    count: jax.Array
    inner_state: Any


def _is_quantized(x: Any) -> bool:
    return isinstance(x, QuantizedArray)


def _compressible(x: Any, min_size: int) -> bool:
    return (
        hasattr(x, "dtype")
        and jnp.issubdtype(x.dtype, jnp.floating)
        and jnp.ndim(x) > 0  # scalars stay, whatever min_size says
        and int(jnp.size(x)) >= min_size
    )


def _decode(state: Any) -> tuple[Any, list[Any], list[Any]]:
    """The state as arrays, with its stored leaves and their decoded values."""
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(
        state, is_leaf=_is_quantized
    )
    paths = [path for path, _ in paths_and_leaves]
    stored = [x for _, x in paths_and_leaves]
    decoded = _storage.decode(paths, stored)
    return jax.tree.unflatten(treedef, decoded), stored, decoded


@hyperparameters(
    inner=transformation(),
    bits=choice(16, 8, 4),
    block_size=optional(integer(2)),
    min_size=integer(0),
)
def quantized_state(
    inner: GradientTransformation,
    bits: int = 8,
    *,
    block_size: int | None = None,
    min_size: int = 4096,
) -> GradientTransformationExtraArgs:
    r"""Store ``inner``'s large float state leaves in 16, 8 or 4 bits between steps.

    Each update decodes the stored leaves, runs ``inner.update`` in the leaves'
    own dtype, and encodes the new state again:

    .. math::

      s_t = Q\big(\mathrm{inner.update}(g_t, Q^{-1}(s_{t-1}), \theta_{t-1})\big)

    Leaves with fewer than ``min_size`` elements, integer leaves (step
    counters) and scalars stay as they are. With Adam-like optimizers the two
    moments are the large leaves, so the state shrinks from 8 bytes per
    parameter to about 4 (``bits=16``), 2 (``bits=8``) or 1 (``bits=4``).

    The codes (:func:`tsx.lowbit.quantize`): a float32 scale per block of
    ``block_size`` consecutive elements along the trailing axes; in a block
    with negative values (a first moment) a signed code dense near zero; in a
    block of non-negative values (a second moment) a code without zero, so
    ``m / sqrt(v)`` never divides by a second moment rounded to zero (the
    zero-point problem of Li et al., 2023). ``bits=16`` stores bfloat16 with
    stochastic rounding, so increments smaller than bfloat16's resolution
    still move the state in expectation.

    At ``bits=4`` each leaf is stored by what it holds (``tsx.lowbit``'s
    storage rules): a first moment ``mu`` with a second moment ``nu`` of
    its shape beside it is stored as ``mu / sqrt(nu)`` in evenly spaced
    levels, so every element's update keeps the same resolution; other
    first moments use evenly spaced levels too (an elementwise optimizer's
    momentum, Lion's, rounded at random so that small increments are kept
    in expectation; a matrix optimizer's, Muon's, Kron's, Shampoo's, to
    nearest in blocks of 32 elements); second moments round
    stochastically (unbiased), since a step changes them by less than a
    level; eigenbases (SOAP's) use evenly spaced levels and are
    orthonormalized when decoded (:func:`tsx.matrix.orthonormalize`); the
    matrix optimizers' statistics, inverse roots, Kronecker factors and
    projections keep **8 bits**, since 4-bit blocks break their
    definiteness. At every width, statistics that the optimizer takes
    inverse roots of (Shampoo's) keep **32 bits**: each step changes them
    by less than a level of a narrower code, and the roots magnify the
    error (``state_bytes(state, by_width=True)`` shows the bytes at each
    width).

    Sharding: blocks run along the trailing axes (merged until they hold
    ``block_size`` elements), so a state leaf sharded along its leading axes
    keeps each block on one device; the 8-bit and 16-bit codes have the
    leaf's shape and shard like it.

    Args:
      inner: the transformation whose state is stored compressed.
      bits: 16 (bfloat16 with stochastic rounding), 8 or 4.
      block_size: elements per block for 8 and 4 bits (default 256 for 8
        bits, 128 for 4 bits, 32 for a matrix optimizer's momentum at 4
        bits; an int >= 2). Each block costs a 4-byte scale.
      min_size: leaves with fewer elements stay uncompressed (an int >= 0).

    Returns:
      A transformation with the inner one's updates and a :class:`LowBitState`
      whose large leaves are :class:`~tsx.lowbit.QuantizedArray`.

    References:
      Dettmers, Lewis, Shleifer and Zettlemoyer, "8-bit Optimizers via
      Block-wise Quantization", ICLR 2022, arXiv:2110.02861.

      Li, Chen and Zhu, "Memory Efficient Optimizers with 4-bit States",
      NeurIPS 2023, arXiv:2309.01507.

      Gupta, Agrawal, Gopalakrishnan and Narayanan, "Deep Learning with
      Limited Numerical Precision", ICML 2015 (stochastic rounding).

    Example:
      >>> import jax.numpy as jnp
      >>> import tsx
      >>> tx = tsx.quantized_state(tsx.adamw(1e-3), bits=8, min_size=16)
      >>> params = {"w": jnp.ones((4, 64)), "b": jnp.zeros(4)}
      >>> state = tx.init(params)
      >>> state.inner_state[0].mu["w"]
      QuantizedArray(shape=(4, 64), dtype=float32, bits=8, block_size=256)
      >>> float32_state = tsx.adamw(1e-3).init(params)
      >>> tsx.lowbit.state_bytes(state), tsx.lowbit.state_bytes(float32_state)
      (584, 2084)
      >>> updates, state = tx.update(params, state, params)
    """
    inner = with_extra_args_support(inner)

    def encode(
        state: Any,
        where: list[bool],
        step: jax.Array,
        previous: tuple[list[Any], list[Any]] | None = None,
    ) -> Any:
        paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
        paths = [path for path, _ in paths_and_leaves]
        leaves = [x for _, x in paths_and_leaves]
        shapes = [tuple(jnp.shape(x)) for x in leaves]
        storage = _storage.plan(paths, shapes, where, bits, block_size)
        stored = _storage.encode(leaves, storage, step, previous)
        return jax.tree.unflatten(treedef, stored)

    def init_fn(params):
        # A QuantizedArray cannot be a Flax NNX Variable's value (tree_unbox).
        state = tree_unbox(inner.init(params))
        where = [_compressible(x, min_size) for x in jax.tree.leaves(state)]
        count = jnp.zeros([], jnp.int32)
        return LowBitState(count=count, inner_state=encode(state, where, count))

    def update_fn(updates, state, params=None, **extra_args):
        decoded_state, stored, decoded = _decode(state.inner_state)
        where = [_is_quantized(x) for x in stored]
        updates, new_inner = inner.update(updates, decoded_state, params, **extra_args)
        count = safe_int32_increment(state.count)
        new_stored = encode(new_inner, where, count, (stored, decoded))
        return updates, LowBitState(count, new_stored)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _nbytes(x: Any) -> int:
    if _is_quantized(x):
        return x.nbytes
    return math.prod(x.shape) * jnp.dtype(x.dtype).itemsize


def _width(x: Any) -> int:
    return x.bits if _is_quantized(x) else 8 * jnp.dtype(x.dtype).itemsize


def state_bytes(state: Any, *, by_width: bool = False) -> int | dict[int, int]:
    """Bytes held by the arrays of an optimizer state, compressed leaves included.

    Args:
      state: an optimizer state (or any tree); leaves without a dtype are not
        counted.
      by_width: return ``{bits per element: bytes}`` instead of the total:
        a compressed leaf counts at the width it is stored in (its codes and
        block scales together), any other array at its dtype's width. With
        ``quantized_state(..., bits=4)`` the 8-bit entry holds the leaves
        kept wider (the matrix optimizers' statistics, roots, factors and
        projections, and SOAP's first moment).

    Example:
      >>> import jax.numpy as jnp
      >>> import tsx
      >>> tx = tsx.quantized_state(tsx.contrib.soap(1e-3), bits=4, min_size=16)
      >>> state = tx.init({"w": jnp.ones((64, 64))})
      >>> tsx.lowbit.state_bytes(state, by_width=True)
      {32: 12, 8: 12672, 4: 6528}
    """
    leaves = jax.tree.leaves(state, is_leaf=_is_quantized)
    arrays = [x for x in leaves if hasattr(x, "dtype")]
    if not by_width:
        return sum(_nbytes(x) for x in arrays)
    widths: dict[int, int] = {}
    for x in arrays:
        widths[_width(x)] = widths.get(_width(x), 0) + _nbytes(x)
    return widths
