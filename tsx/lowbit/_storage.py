"""How each state leaf is stored: its width and code, chosen by what it holds.

:func:`~tsx.lowbit.quantized_state` asks for one width; the leaves are not
all alike, and at 4 bits the difference decides the quality:

* **Adam-like moment pairs** (a ``mu`` leaf and a ``nu`` leaf of the same
  shape at the same place of a state): the first moment is stored as
  ``mu / sqrt(nu)``, with ``nu`` as stored, in evenly spaced levels. The
  update ``mu / sqrt(nu)`` then has the same absolute resolution in every
  element, where scaling by the block's largest ``mu`` gave an element
  whose ``mu`` and ``nu`` are both small (a large update) almost no levels.
  The second moment rounds stochastically (:func:`~tsx.lowbit.quantize`).
  Not in a state that also holds ``roots`` (Shampoo's): there ``mu`` is the
  momentum of the preconditioned step and ``nu`` the grafting optimizer's
  second moment of the gradient, so their ratio is no step.
* **Momenta of elementwise optimizers** (a first moment without a second
  moment, in a state that holds no matrices: Lion's): evenly spaced levels
  too, **rounded stochastically**. A step adds ``(1 - b) g`` to a
  momentum, for most elements less than half a 4-bit level: rounded to
  nearest the addition is lost and the momentum lags the gradient (Lion at
  4 bits ended 33% above float32 on least squares; rounded at random,
  +3%).
* **Momenta of matrix optimizers** (a ``mu`` beside matrices or
  Newton-Schulz coefficients: Muon's, Kron's, Shampoo's, whose ``mu`` is
  the momentum of its preconditioned step): evenly spaced levels rounded
  to nearest, in **blocks of 32** (``MOMENTUM_BLOCK``, 5 bits per element
  with the scales, where 128-element blocks take 4.25). The
  preconditioner raises every direction of the momentum to a similar
  size, the small ones that rounding noise fills too, so the noise costs
  more than the lag: on the LM example Muon at 4 bits ended 3.6% above
  float32 in 128-element blocks, 2.2% in blocks of 32, 2.4% of 16, 4.2%
  rounded at random; Kron 2.4%, 1.6% in blocks of 32, 4.7% at random; on
  least squares Shampoo 3-7% to nearest, 15-17% at random (though Kron
  there gained from random rounding, 1.4% against 23%).
* **First moments whose second moment lives in another basis** (SOAP's
  ``mu``, in the parameters' basis, beside ``nu`` in the eigenbasis): the
  small components that the update divides by a small second moment are
  below a 4-bit level of the block, so they keep 8 bits.
* **Eigenbases** (field ``bases``: SOAP's ``Q_L``, ``Q_R``): 4-bit evenly
  spaced levels, *rectified* when decoded: Björck's iteration
  (:func:`tsx.matrix.orthonormalize`) returns the decoded matrix to the
  nearest orthogonal one before it rotates anything (the eigenvector
  quantization of Wang et al., 2024, "4-bit Shampoo", arXiv:2405.18144).
  A basis the optimizer hands back unchanged keeps its codes: encoding the
  rectified matrix again would move it a little every step.
* **Statistics the optimizer takes inverse roots of** (a ``stats`` field
  beside a ``roots`` field: Shampoo's ``L``, ``R``) keep **32 bits** at
  every width. ``L^{-1/4}`` magnifies errors in the small eigenvalues, and
  with ``b2 = 0.999`` a step changes an entry by about a thousandth, below
  a level of every narrower code: rounded to nearest the statistics stop
  moving, rounded stochastically the errors add up over the ``1 / (1 -
  b2)`` steps they are remembered (on least squares, Shampoo with 8-bit
  statistics ended 76% above float32, with bfloat16 ones 14%).
* **Other matrices** (fields ``stats``, ``roots``, ``factors``,
  ``projector``: SOAP's statistics, Shampoo's inverse roots, Kronecker
  factors, GaLore's projections) keep 8 bits: a 4-bit block code breaks the
  definiteness of statistics and roots, and no 4-bit code has been shown to
  keep the quality of the factors and projections.

:func:`~tsx.lowbit.state_bytes` with ``by_width=True`` shows the bytes kept
at each width.

Each choice follows from the state's structure alone, so decoding finds the
same pairs that encoding made.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx.lowbit._codes import (
    QuantizedArray,
    dequantize,
    quantize,
    stochastic_round_bf16,
)
from tsx.matrix import orthonormalize

__all__ = [
    "DEFAULT_BLOCK",
    "MOMENTUM_BLOCK",
    "MATRIX_FIELDS",
    "ORTHOGONAL_FIELDS",
    "Storage",
    "decode",
    "encode",
    "plan",
]

DEFAULT_BLOCK = {8: 256, 4: 128}
MOMENTUM_BLOCK = 32  # a matrix optimizer's momentum at 4 bits
MATRIX_FIELDS = frozenset({"stats", "roots", "bases", "factors", "projector"})
ORTHOGONAL_FIELDS = frozenset({"bases"})
_MATRIX_BITS = 8
_FIRST, _SECOND = jax.tree_util.GetAttrKey("mu"), jax.tree_util.GetAttrKey("nu")
_STATS, _ROOTS = jax.tree_util.GetAttrKey("stats"), jax.tree_util.GetAttrKey("roots")
# A matrix optimizer's state (its momentum rounds to nearest): one that holds
# matrices, or Newton-Schulz coefficients (Muon).
_MATRIX_STATE = tuple(
    jax.tree_util.GetAttrKey(name) for name in sorted(MATRIX_FIELDS | {"ns_coeffs"})
)


class Storage(NamedTuple):
    """How one leaf is stored: ``bits`` 0 means as it is."""

    bits: int
    block_size: int = 0
    linear: bool = False
    over: int | None = None  # the leaf whose root divides this one
    orthogonal: bool = False  # rectified when decoded
    stochastic: bool = False  # rounded at random, unbiased (4 bits)


def _fields(path: tuple) -> set[str]:
    return {k.name for k in path if isinstance(k, jax.tree_util.GetAttrKey)}


def _partners(paths: list[tuple]) -> dict[int, int]:
    """Leaf ``i`` under a ``mu`` field -> the leaf ``j`` at the same place
    under its sibling ``nu``."""
    index = {path: j for j, path in enumerate(paths)}
    preconditioned = _places(paths, _ROOTS)
    partners = {}
    for i, path in enumerate(paths):
        k = path.index(_FIRST) if _FIRST in path else None
        if k is None or path[:k] in preconditioned:
            continue
        j = index.get(path[:k] + (_SECOND,) + path[k + 1 :])
        if j is not None:
            partners[i] = j
    return partners


def _places(paths: list[tuple], field: Any) -> set[tuple]:
    """The states (paths to them) that hold ``field``."""
    return {path[: path.index(field)] for path in paths if field in path}


def _inverted(paths: list[tuple]) -> set[int]:
    """Leaves under a ``stats`` field with a ``roots`` field beside it:
    statistics the optimizer takes inverse roots of (Shampoo's)."""
    owners = _places(paths, _ROOTS)
    return {
        i
        for i, path in enumerate(paths)
        if _STATS in path and path[: path.index(_STATS)] in owners
    }


def moment_pairs(
    paths: list[tuple], shapes: list[tuple], wanted: list[bool]
) -> dict[int, int]:
    """Leaf ``i`` under a ``mu`` field -> leaf ``j`` of the same shape at the
    same place under its sibling ``nu``, for pairs both ``wanted``."""
    return {
        i: j
        for i, j in _partners(paths).items()
        if wanted[i] and wanted[j] and shapes[i] == shapes[j]
    }


def plan(
    paths: list[tuple],
    shapes: list[tuple],
    wanted: list[bool],
    bits: int,
    block_size: int | None,
) -> list[Storage]:
    """The storage of each leaf of a state asked to be kept in ``bits``."""

    def block(b: int) -> int:
        return block_size or DEFAULT_BLOCK.get(b, 0)

    pairs = moment_pairs(paths, shapes, wanted) if bits == 4 else {}
    elsewhere = set(_partners(paths)) - set(pairs) if bits == 4 else set()
    inverted = _inverted(paths)
    nearest = set().union(*(_places(paths, field) for field in _MATRIX_STATE))
    out = []
    for i, path in enumerate(paths):
        if not wanted[i] or i in inverted:
            out.append(Storage(0))
        elif bits == 4 and _fields(path) & ORTHOGONAL_FIELDS:
            out.append(Storage(4, block(4), linear=True, orthogonal=True))
        elif bits == 4 and (_fields(path) & MATRIX_FIELDS or i in elsewhere):
            out.append(Storage(_MATRIX_BITS, block(_MATRIX_BITS)))
        elif bits == 4 and _FIRST in path:
            place = path[: path.index(_FIRST)]
            if i in pairs:
                out.append(Storage(4, block(4), linear=True, over=pairs[i]))
            elif place in nearest:
                out.append(Storage(4, block_size or MOMENTUM_BLOCK, linear=True))
            else:
                out.append(Storage(4, block(4), linear=True, stochastic=True))
        else:
            # At 4 bits a level dwarfs a second moment's per-step change:
            # unbiased rounding keeps it moving.
            out.append(Storage(bits, block(bits), stochastic=bits == 4))
    return out


def _root(second_moment: jax.Array) -> jax.Array:
    root = jnp.sqrt(jnp.maximum(second_moment.astype(jnp.float32), 0.0))
    return jnp.where(root > 0, root, 1.0)


def _compress(x: jax.Array, how: Storage, step: jax.Array, salt: int) -> Any:
    if how.bits == 16:
        codes = stochastic_round_bf16(x, step, salt)
        return QuantizedArray(codes, None, x.shape, x.dtype, 16, 0)
    noise_step = step if how.stochastic else None
    return quantize(
        x, how.bits, how.block_size, linear=how.linear, noise_step=noise_step, salt=salt
    )


def _unless_unchanged(
    codes: QuantizedArray, leaf: jax.Array, stored: QuantizedArray, decoded: jax.Array
) -> QuantizedArray:
    same = jnp.all(leaf == decoded)
    return jax.tree.map(lambda new, old: jnp.where(same, old, new), codes, stored)


def encode(
    leaves: list[Any],
    storage: list[Storage],
    step: jax.Array,
    previous: tuple[list[Any], list[Any]] | None = None,
) -> list[Any]:
    """The leaves in their storage; ``step`` keys the stochastic rounding.

    ``previous``: the stored leaves of the last state and what :func:`decode`
    made of them; an orthogonal leaf equal to its decoded self keeps its codes.
    """
    out = [
        x if how.bits == 0 or how.over is not None else _compress(x, how, step, salt)
        for salt, (x, how) in enumerate(zip(leaves, storage, strict=True))
    ]
    for i, how in enumerate(storage):
        if how.over is not None:
            # Divided by the root of the second moment *as stored*, so
            # decoding multiplies back exactly what was divided.
            ratio = leaves[i].astype(jnp.float32) / _root(dequantize(out[how.over]))
            out[i] = _compress(ratio.astype(leaves[i].dtype), how, step, i)
    if previous is not None:
        stored, decoded = previous
        for i, how in enumerate(storage):
            if how.orthogonal:
                out[i] = _unless_unchanged(out[i], leaves[i], stored[i], decoded[i])
    return out


def decode(paths: list[tuple], stored: list[Any]) -> list[Any]:
    """The leaves :func:`encode` stored, as arrays again."""
    quantized = [isinstance(x, QuantizedArray) for x in stored]
    out = [dequantize(x) if q else x for x, q in zip(stored, quantized, strict=True)]
    shapes = [x.shape if q else None for x, q in zip(stored, quantized, strict=True)]
    for i, j in moment_pairs(paths, shapes, quantized).items():
        if stored[i].linear:
            out[i] = (out[i] * _root(out[j])).astype(stored[i].dtype)
    for i, path in enumerate(paths):
        if quantized[i] and stored[i].bits == 4 and _fields(path) & ORTHOGONAL_FIELDS:
            out[i] = orthonormalize(out[i]).astype(stored[i].dtype)
    return out
