"""Block-wise codes that store a float array in 16, 8 or 4 bits per element.

An array is viewed as rows of its trailing elements: the trailing axes are
merged until they hold at least ``block_size`` elements (or all axes but the
first are), and each row is cut into blocks of ``block_size`` consecutive
elements. A block stores one float32 scale, its largest magnitude, and one
small integer code per element. The leading axes are untouched, so a leaf sharded along
them keeps every block on the device that holds its elements, and the codes
of an 8-bit array have the array's own shape (they shard like the array).

Two codes, chosen per block from the block's values, with the sign of the
stored scale saying which (no extra storage):

* **signed** (a block with a negative value; scale stored negated):
  ``x = a * sign(q) * (|q| / L)^2`` with ``L = 2^(bits-1) - 1``, so zero is
  exact and the levels are dense near zero, as in the dynamic code of
  Dettmers et al. (2021).
* **positive** (every value >= 0, e.g. Adam's second moment):
  ``x = a * ((q + 1) / 2^bits)^4``, a code *without zero* (Li et al., 2023):
  a small second moment is never rounded to zero, which would turn
  ``m / sqrt(v)`` into a huge step. The fourth power spreads the levels
  evenly in ``v^(1/4)``; the smallest level, ``a / 2^(4 bits)``, keeps
  ``sqrt(v)`` within ``2^(-2 bits)`` of the block's largest.

Two options of :func:`quantize` serve the 4-bit state of Adam-like
optimizers (:func:`~tsx.lowbit.quantized_state`):

* ``linear=True``: ``x = a * q / L`` with ``q`` in ``[-L, L]``, evenly
  spaced levels for values that fill their block's range, such as a first
  moment divided by the square root of its second moment.
* ``noise_step`` given: blocks in the positive code (and linear blocks)
  round stochastically to one of the two levels around ``x``, with the
  probability that makes the stored value unbiased. A second moment moves
  by ``(1 - b2) (g^2 - v)`` per step, far less than a 4-bit level; rounded
  to nearest it would stay where it is (or drop to its level below) for
  good. A momentum ``b m + (1 - b) g`` loses the same way the part of
  ``(1 - b) g`` below half a level.

A block of zeros has scale 0 and decodes to zeros; a NaN or infinity in a
block makes its scale infinite, so the whole block decodes to non-finite
values and a finiteness check on the stored state sees it.

``bits=16`` stores bfloat16 with stochastic rounding instead (no blocks):
``x`` rounds up or down to its bfloat16 neighbours with probabilities that
make the rounding unbiased, so small increments accumulate in expectation
where round-to-nearest would drop them (Gupta et al., 2015, "Deep Learning
with Limited Numerical Precision"). The random bits come from a counter-based
hash of the element index, a step counter and a leaf number: deterministic
given the step, and cheap enough to fuse into the update.

References:
  Dettmers, Lewis, Shleifer and Zettlemoyer, "8-bit Optimizers via Block-wise
  Quantization", ICLR 2022, arXiv:2110.02861.
  Li, Chen and Zhu, "Memory Efficient Optimizers with 4-bit States",
  NeurIPS 2023, arXiv:2309.01507.
"""


import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tsx.sharding import gathered

__all__ = [
    "QuantizedArray",
    "dequantize",
    "quantize",
    "stochastic_round_bf16",
]

_SIGNED_POWER = 2
_POSITIVE_POWER = 4


@jax.tree_util.register_pytree_with_keys_class
class QuantizedArray:
    """A float array stored as block codes (8 or 4 bits) or bfloat16 (16 bits).

    A pytree: its children are ``codes`` (uint8: the array's shape for 8
    bits; for 4 bits two codes per byte, shaped ``(*leading, blocks,
    block_size / 2)``) and ``scales`` (float32, ``(*leading, blocks)``;
    ``None`` for 16 bits). The
    shape, dtype, bit width and block size are static, so a checkpoint holds
    only the two arrays and restores into a target of the same layout.

    Attributes:
      codes: the codes, or the bfloat16 values for ``bits=16``.
      scales: the block scales (negative for a block in the signed code).
      shape: the shape of the array it stands for.
      dtype: the dtype it decodes to.
      bits: 16, 8 or 4.
      block_size: elements per block (8 and 4 bits).
      linear: whether the codes are the evenly spaced signed levels
        (``quantize(..., linear=True)``) rather than the companded ones.
    """

    def __init__(
        self,
        codes: jax.Array,
        scales: jax.Array | None,
        shape: tuple[int, ...],
        dtype: Any,
        bits: int,
        block_size: int,
        linear: bool = False,
    ):
        self.codes = codes
        self.scales = scales
        self.shape = tuple(shape)
        self.dtype = jnp.dtype(dtype)
        self.bits = bits
        self.block_size = block_size
        self.linear = linear

    def tree_flatten_with_keys(self):
        children = (
            (jax.tree_util.GetAttrKey("codes"), self.codes),
            (jax.tree_util.GetAttrKey("scales"), self.scales),
        )
        aux = (self.shape, self.dtype, self.bits, self.block_size, self.linear)
        return children, aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)

    @property
    def nbytes(self) -> int:
        """The bytes stored, codes and scales together."""
        arrays = [x for x in (self.codes, self.scales) if x is not None]
        return sum(int(x.size) * x.dtype.itemsize for x in arrays)

    def __repr__(self) -> str:
        linear = ", linear=True" if self.linear else ""
        return (
            f"QuantizedArray(shape={self.shape}, dtype={self.dtype.name}, "
            f"bits={self.bits}, block_size={self.block_size}{linear})"
        )


def _split(shape: tuple[int, ...], block_size: int) -> int:
    """The first trailing axis: the axes from it on hold >= block_size elements.

    Never axis 0 of an array with two or more axes, so blocks stay on the
    device that holds their row when the leading axis is sharded.
    """
    k, trailing = len(shape), 1
    while k > min(1, len(shape) - 1) and trailing < block_size:
        k -= 1
        trailing *= shape[k]
    return k


def _blocks(x: jax.Array, block_size: int) -> tuple[jax.Array, int]:
    """``x`` as ``(*leading, blocks, block)`` (zero-padded) and the row length."""
    k = _split(x.shape, block_size)
    row = math.prod(x.shape[k:])
    block = min(block_size, row)
    n = -(-row // block)
    x = x.reshape(*x.shape[:k], row)
    if n * block != row:
        pad = [(0, 0)] * k + [(0, n * block - row)]
        x = jnp.pad(x, pad)
    return x.reshape(*x.shape[:k], n, block), row


def _unblocks(blocks: jax.Array, row: int, shape: tuple[int, ...]) -> jax.Array:
    flat = blocks.reshape(*blocks.shape[:-2], -1)[..., :row]
    return flat.reshape(shape)


def _pack4(blocks: jax.Array) -> jax.Array:
    """Two 4-bit codes (whole floats) per byte: first half low, second half high.

    Contiguous halves rather than neighbouring pairs, so packing and unpacking
    are plain vector operations.
    """
    half = -(-blocks.shape[-1] // 2)
    if 2 * half != blocks.shape[-1]:
        blocks = jnp.pad(blocks, [(0, 0)] * (blocks.ndim - 1) + [(0, 1)])
    # Combined as floats (exact below 256), converted to bytes once.
    # Kept as (..., blocks, half): merging the last two axes made XLA's CPU
    # backend copy the codes (8x slower encoding).
    return (blocks[..., :half] + 16 * blocks[..., half:]).astype(jnp.uint8)


def _unpack4(packed: jax.Array, block: int) -> jax.Array:
    both = jnp.concatenate([packed & 0xF, packed >> 4], axis=-1)
    return both[..., :block]


def _scale_and_sign(blocks: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each block's largest magnitude (inf if it holds a NaN) and whether it
    has a negative value: one pass, a variadic reduction of two maxima."""
    # A NaN does not win a max on every backend; as inf it does.
    magnitude = jnp.where(jnp.isnan(blocks), jnp.inf, jnp.abs(blocks))
    low = jnp.array(-jnp.inf, blocks.dtype)
    absmax, negmax = jax.lax.reduce(
        (magnitude, -blocks),
        (low, low),
        lambda a, b: (jnp.maximum(a[0], b[0]), jnp.maximum(a[1], b[1])),
        (blocks.ndim - 1,),
    )
    return absmax[..., None], negmax[..., None] > 0


def quantize(
    x: jax.Array,
    bits: int,
    block_size: int = 256,
    *,
    linear: bool = False,
    noise_step: jax.Array | None = None,
    salt: int = 0,
) -> QuantizedArray:
    """Encode ``x`` block-wise in ``bits`` (8 or 4) bits per element.

    Args:
      x: a float array.
      bits: 8 or 4.
      block_size: elements per block (a row shorter than it is one block).
      linear: store every block in evenly spaced signed levels
        ``a * q / (2^(bits-1) - 1)`` instead of choosing the companded
        signed or positive code by the block's signs.
      noise_step: when given (an integer, e.g. a step counter), blocks in
        the positive code, and every block of a ``linear`` array, round
        stochastically, unbiased in the value; the random bits come from a
        hash of the element index, it and ``salt``.
      salt: an integer that makes the random bits differ between arrays.

    Returns:
      A :class:`QuantizedArray`; :func:`dequantize` decodes it.
    """
    if bits not in (8, 4):
        raise ValueError(f"quantize: bits must be 8 or 4, got bits={bits!r}.")
    # Blocks cut across a dimension split over an Explicit mesh axis are not
    # a layout JAX can name: such an array is encoded whole.
    x = gathered(x)
    blocks, row = _blocks(x.astype(jnp.float32), block_size)
    absmax, signed = _scale_and_sign(blocks)
    safe = jnp.where((absmax > 0) & jnp.isfinite(absmax), absmax, 1.0)
    # XLA divides by multiplying with the reciprocal, and 1 / safe is
    # subnormal (flushed to zero on CPU) beyond 2^126: scale both down first.
    pre = jnp.where(safe > 2.0**100, 2.0**-64, 1.0)
    r = (blocks * pre) / (safe * pre)
    half = 2 ** (bits - 1) - 1
    n = 2**bits
    if linear and noise_step is not None:
        noise = hash_bits(r.shape, noise_step, salt).astype(jnp.float32)
        q = jnp.floor(r * half + noise / 65536.0) + half
        scales = absmax[..., 0]
    elif linear:
        q = jnp.round(r * half) + half
        scales = absmax[..., 0]
    else:
        # Nearest level in the companded domain (sqrt, resp. fourth root).
        q_signed = jnp.round(jnp.sqrt(jnp.abs(r)) * half)
        q_signed = jnp.minimum(q_signed, half) * jnp.sign(r) + half
        if noise_step is None:
            q_positive = jnp.round(jnp.sqrt(jnp.sqrt(r)) * n) - 1
        else:
            noise = hash_bits(r.shape, noise_step, salt).astype(jnp.float32)
            q_positive = _positive_stochastic(r, n, noise / 65536.0)
        q = jnp.where(signed, q_signed, q_positive)
        scales = jnp.where(signed, -absmax, absmax)[..., 0]
    q = jnp.clip(q, 0, n - 1)
    if bits == 4:
        codes = _pack4(q)
    else:
        codes = _unblocks(q.astype(jnp.uint8), row, x.shape)
    return QuantizedArray(codes, scales, x.shape, x.dtype, bits, block_size, linear)


def _positive_level(q: jax.Array, n: int) -> jax.Array:
    p = (q + 1) / n
    p2 = p * p
    return p2 * p2


def _positive_stochastic(r: jax.Array, n: int, u: jax.Array) -> jax.Array:
    """The positive code of ``r`` in [0, 1], rounded up with the probability
    ``(r - low) / (high - low)`` that makes the decoded value unbiased."""
    low = jnp.clip(jnp.floor(jnp.sqrt(jnp.sqrt(r)) * n) - 1, 0, n - 2)
    level_low = _positive_level(low, n)
    gap = _positive_level(low + 1, n) - level_low
    up = jnp.clip((r - level_low) / gap, 0.0, 1.0)
    return low + (u < up)


def dequantize(q: QuantizedArray) -> jax.Array:
    """Decode a :class:`QuantizedArray` to an array of its shape and dtype.

    Args:
      q: the encoded array.
    """
    if q.bits == 16:
        return q.codes.astype(q.dtype)
    row = math.prod(q.shape[_split(q.shape, q.block_size) :])
    if q.bits == 4:
        blocks = _unpack4(q.codes, min(q.block_size, row))
    else:
        blocks, _ = _blocks(q.codes, q.block_size)
    c = blocks.astype(jnp.float32)
    scale = q.scales[..., None]
    half = 2 ** (q.bits - 1) - 1
    s = (c - half) / half
    if q.linear:
        values = scale * s
    else:
        signed = -scale * jnp.sign(s) * s * s
        positive = scale * _positive_level(c, 2**q.bits)
        # An infinite scale (a block that held NaN or inf) decodes to inf or
        # NaN.
        values = jnp.where(scale < 0, signed, positive)
    return _unblocks(values, row, q.shape).astype(q.dtype)


def hash_bits(shape: tuple[int, ...], step: jax.Array, salt: int) -> jax.Array:
    """16 pseudo-random bits per element from its index, ``step`` and ``salt``.

    A 32-bit integer mix (the finaliser of MurmurHash3) of the element index
    combined with the step and salt: elementwise, so it fuses into the update,
    and the same for the same step.
    """
    size = math.prod(shape)
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    seed = jnp.asarray(step).astype(jnp.uint32) * np.uint32(0x9E3779B1) + np.uint32(
        (salt * 0x85EBCA77) & 0xFFFFFFFF
    )
    h = index * np.uint32(0xCC9E2D51) + seed
    h = h ^ (h >> 16)
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * np.uint32(0xC2B2AE35)
    h = h ^ (h >> 16)
    return h & np.uint32(0xFFFF)


def stochastic_round_bf16(x: jax.Array, step: jax.Array, salt: int = 0) -> jax.Array:
    """Round ``x`` to bfloat16 up or down at random, unbiased in expectation.

    bfloat16 keeps the upper 16 bits of a float32. Adding a uniform random
    16-bit integer to the lower half before truncating rounds up with
    probability equal to the dropped fraction, so ``E[round(x)] = x``.
    Non-finite values are passed through unchanged.

    Args:
      x: a float array (cast to float32 first).
      step: an integer (a step counter): the random bits depend on it.
      salt: another integer (the leaf's number) so leaves draw different bits.
    """
    x32 = x.astype(jnp.float32)
    bits = jax.lax.bitcast_convert_type(x32, jnp.uint32)
    noisy = (bits + hash_bits(x.shape, step, salt)) & np.uint32(0xFFFF0000)
    rounded = jax.lax.bitcast_convert_type(noisy, jnp.float32)
    # Rounding up past the largest finite value would give inf; keep such
    # values (and NaN/inf themselves) on round-to-nearest.
    rounded = jnp.where(jnp.isfinite(rounded), rounded, x32)
    return rounded.astype(jnp.bfloat16)
