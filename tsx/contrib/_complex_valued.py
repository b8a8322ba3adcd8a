"""Optimising complex parameters as pairs of real ones.

An optimizer written for real numbers (Adam's :math:`g^2`, for example) need
not do the right thing on complex inputs. :func:`split_real_and_imaginary`
views every complex leaf :math:`z = x + iy` as the pair :math:`(x, y)`, runs
the inner transformation on the pairs, and reassembles :math:`u_x + i u_y`.
Real leaves pass through unchanged.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx._base import GradientTransformation, OptState
from tsx.validation import (
    TRANSFORMATION,
    hyperparameters,
)

__all__ = [
    "SplitRealAndImaginaryArrays",
    "SplitRealAndImaginaryState",
    "split_real_and_imaginary",
]


class SplitRealAndImaginaryArrays(NamedTuple):
    """A complex array seen as its real and imaginary parts."""

    real: jax.typing.ArrayLike
    imaginary: jax.typing.ArrayLike


class SplitRealAndImaginaryState(NamedTuple):
    """State of :func:`split_real_and_imaginary`: the inner state."""

    inner_state: OptState


def _split(x: Any) -> Any:
    if jnp.iscomplexobj(x):
        return SplitRealAndImaginaryArrays(x.real, x.imag)
    return x


def _merge(x: Any) -> Any:
    if isinstance(x, SplitRealAndImaginaryArrays):
        return x.real + x.imaginary * 1j
    return x


def _is_pair(x: Any) -> bool:
    return isinstance(x, SplitRealAndImaginaryArrays)


@hyperparameters(
    inner=TRANSFORMATION,
)
def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    """Run ``inner`` on complex leaves split into (real, imaginary) pairs.

    The inner state is built on (and keeps) the split structure, so a moment
    of a complex leaf is a ``SplitRealAndImaginaryArrays`` pair.

    Args:
      inner: the transformation to run on the real and imaginary parts.
    """

    def init_fn(params):
        return SplitRealAndImaginaryState(inner.init(jax.tree.map(_split, params)))

    def update_fn(updates, state, params=None):
        updates = jax.tree.map(_split, updates)
        params = jax.tree.map(_split, params)
        updates, inner_state = inner.update(updates, state.inner_state, params)
        updates = jax.tree.map(_merge, updates, is_leaf=_is_pair)
        return updates, SplitRealAndImaginaryState(inner_state)

    return GradientTransformation(init_fn, update_fn)
