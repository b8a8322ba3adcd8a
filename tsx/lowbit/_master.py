"""``master_weights``: bfloat16 params with their rounding error kept in 8 bits.

Training in bfloat16 params alone stalls: an update smaller than half the
spacing of bfloat16 numbers near a weight (1/256 of its size) rounds away.
A float32 master copy fixes that at 4 more bytes per parameter. The rounding
error of a bfloat16 weight is at most half that spacing, so a few bits
relative to the spacing hold it nearly as well (FlashOptim's idea, Databricks,
2026, arXiv:2602.23349).
"""


import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)
from tsx.lowbit._codes import hash_bits
from tsx.numerics import safe_int32_increment
from tsx.validation import choice, hyperparameters, transformation

__all__ = ["MasterWeightsState", "master_error", "master_weights"]

_INT = {8: jnp.int8, 16: jnp.int16}


class MasterWeightsState(NamedTuple):
    """State of :func:`master_weights`.

    Attributes:
      count: updates so far (int32); keys the stochastic rounding of errors.
      error: per bfloat16 parameter, the rounding error of the stored weight
        as a signed integer in units of its bfloat16 spacing / ``2 L``
        (``None`` for parameters of other dtypes).
      inner_state: the inner transformation's state, built on the float32
        master weights.
    """

    count: jax.Array
    error: Any
    inner_state: Any


def _is_bf16(p: Any) -> bool:
    return p is not None and jnp.dtype(jnp.result_type(p)) == jnp.bfloat16


def spacing(p: jax.Array) -> jax.Array:
    """The distance from each bfloat16 value of ``p`` to the next larger one.

    ``2^(e - 7)`` for a value with exponent ``e`` (bfloat16 keeps 7 bits of
    mantissa), as float32; zeros and subnormals get the spacing of the
    smallest normal numbers.
    """
    bits = jax.lax.bitcast_convert_type(p.astype(jnp.float32), jnp.uint32)
    exponent = (bits >> np.uint32(23)) & np.uint32(0xFF)
    exponent = jnp.clip(exponent, 8, 254) - np.uint32(7)
    return jax.lax.bitcast_convert_type(exponent << np.uint32(23), jnp.float32)


def encode_error(
    error: jax.Array, stored: jax.Array, bits: int, step: jax.Array, salt: int
) -> jax.Array:
    """``error`` (``|error| <= spacing(stored) / 2``) as a ``bits``-bit integer.

    ``x = error / spacing * 2 L`` with ``L = 2^(bits-1) - 1`` is rounded down
    or up at random with the probabilities that make ``E[q] = x`` (the
    random bits hash the element index, ``step`` and ``salt``), then clipped
    to ``[-L, L]``. Round-to-nearest would drift: a steady update smaller
    than a code step would be rounded the same way every step.
    """
    levels = 2 ** (bits - 1) - 1
    x = error / spacing(stored) * (2 * levels)
    uniform = hash_bits(x.shape, step, salt).astype(jnp.float32) / 65536.0
    q = jnp.floor(x + uniform)
    return jnp.clip(q, -levels, levels).astype(_INT[bits])


def decode_error(q: jax.Array, stored: jax.Array, bits: int) -> jax.Array:
    """The float32 error that :func:`encode_error` encoded as ``q``."""
    levels = 2 ** (bits - 1) - 1
    return q.astype(jnp.float32) * (spacing(stored) / (2 * levels))


@hyperparameters(inner=transformation(), error_bits=choice(8, 16))
def master_weights(
    inner: GradientTransformation, *, error_bits: int = 8
) -> GradientTransformationExtraArgs:
    r"""Train bfloat16 params as if they were float32: compensated master weights.

    The params live in bfloat16; the state keeps, for each bfloat16
    parameter, the rounding error of the stored weight in ``error_bits``
    bits. Each update runs ``inner`` on the master weight :math:`w` and
    stores the nearest bfloat16 :math:`p'` and the new error :math:`e'`:

    .. math::

      w = p + e, \quad u = \mathrm{inner}(g, w), \quad w' = w + u, \quad
      p' = \mathrm{bf16}(w'), \quad e' = Q(w' - p')

    :math:`|w' - p'|` is at most half the bfloat16 spacing :math:`s` of
    :math:`p'` (:math:`2^{-8}` of its size), and :math:`Q` keeps it to
    :math:`s / (4L)` with :math:`L = 2^{\text{error\_bits} - 1} - 1`: about
    16 significant bits in all at ``error_bits=8``, 24 at 16. The error is
    rounded stochastically (unbiased), so updates far below bfloat16's
    resolution accumulate in expectation, where bfloat16 params alone
    stall. The returned updates are :math:`p' - p`, exact in float32,
    so :func:`tsx.apply_updates` stores :math:`p'`.

    ``inner`` sees float32 gradients and master weights and keeps its state
    in float32 (wrap it in :func:`tsx.quantized_state` to store that in 16, 8
    or 4 bits). Params of other dtypes pass through to ``inner`` unchanged.
    With AdamW, 8-bit moments and ``error_bits=8`` the persistent bytes per
    parameter are 2 (params) + 1 (error) + about 2 (moments).

    Args:
      inner: the optimizer to run on the master weights.
      error_bits: 8 (``int8``) or 16 (``int16``) bits per rounding error.

    Returns:
      A transformation for bfloat16 params with a :class:`MasterWeightsState`.

    References:
      Databricks, "FlashOptim: Optimizers for Memory Efficient Training",
      2026, arXiv:2602.23349 (the rounding error of bfloat16 weights kept
      in 8 bits in place of float32 master weights).

    Example:
      >>> import jax.numpy as jnp
      >>> import tsx
      >>> params = {"w": jnp.ones(4, jnp.bfloat16)}
      >>> tx = tsx.lowbit.master_weights(tsx.sgd(1e-4))
      >>> state = tx.init(params)
      >>> grads = {"w": -jnp.ones(4, jnp.bfloat16)}
      >>> for _ in range(100):
      ...     updates, state = tx.update(grads, state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> w = params["w"].astype(jnp.float32) + tsx.lowbit.master_error(
      ...     state, params)["w"]
      >>> print(params["w"].dtype, f"{float(params['w'][0]):.4f}", f"{float(w[0]):.3f}")
      bfloat16 1.0078 1.010
    """
    inner = with_extra_args_support(inner)

    def master(params: Any, error: Any) -> Any:
        return jax.tree.map(
            lambda p, q: (
                p
                if q is None
                else p.astype(jnp.float32) + decode_error(q, p, error_bits)
            ),
            params,
            error,
            is_leaf=lambda x: x is None,
        )

    def init_fn(params):
        error = jax.tree.map(
            lambda p: (
                jnp.zeros(jnp.shape(p), _INT[error_bits]) if _is_bf16(p) else None
            ),
            params,
        )
        count = jnp.zeros([], jnp.int32)
        return MasterWeightsState(count, error, inner.init(master(params, error)))

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                "master_weights: update needs params (the bfloat16 weights)."
            )
        w = master(params, state.error)
        grads = jax.tree.map(
            lambda g, q: g if q is None else g.astype(jnp.float32),
            updates,
            state.error,
            is_leaf=lambda x: x is None,
        )
        inner_updates, inner_state = inner.update(
            grads, state.inner_state, w, **extra_args
        )

        count = safe_int32_increment(state.count)
        salts = itertools.count()

        def one(p, q, w, u):
            salt = next(salts)
            if q is None:
                return u, None
            target = w + u.astype(jnp.float32)
            step = target.astype(jnp.bfloat16).astype(jnp.float32) - p.astype(
                jnp.float32
            )
            # What apply_updates will store (p + step in float32, rounded);
            # the error is kept against that value.
            stored = (p + step).astype(p.dtype)
            error = target - stored.astype(jnp.float32)
            return step, encode_error(error, stored, error_bits, count, salt)

        pairs = jax.tree.map(
            one, params, state.error, w, inner_updates, is_leaf=lambda x: x is None
        )
        is_pair = lambda x: isinstance(x, tuple) and len(x) == 2  # noqa: E731
        new_updates = jax.tree.map(lambda t: t[0], pairs, is_leaf=is_pair)
        error = jax.tree.map(lambda t: t[1], pairs, is_leaf=is_pair)
        return new_updates, MasterWeightsState(count, error, inner_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def master_error(state: Any, params: Any) -> Any:
    """The float32 rounding errors ``w - p`` held by a :func:`master_weights` state.

    ``params.astype(float32) + master_error(state, params)`` is the master
    weight the next update starts from (zeros for non-bfloat16 params).

    Args:
      state: a :class:`MasterWeightsState`, or a state holding one (as
        the first such node found, e.g. a ``TrainState.opt_state``).
      params: the bfloat16 params.
    """
    found = _find(state)
    bits = {jnp.dtype(jnp.int8): 8, jnp.dtype(jnp.int16): 16}
    return jax.tree.map(
        lambda p, q: (
            jnp.zeros(jnp.shape(p), jnp.float32)
            if q is None
            else decode_error(q, p, bits[jnp.dtype(q.dtype)])
        ),
        params,
        found.error,
        is_leaf=lambda x: x is None,
    )


def _find(state: Any) -> MasterWeightsState:
    if isinstance(state, MasterWeightsState):
        return state
    for node in jax.tree.leaves(
        state, is_leaf=lambda x: isinstance(x, MasterWeightsState)
    ):
        if isinstance(node, MasterWeightsState):
            return node
    raise ValueError("master_error: the state holds no MasterWeightsState.")
