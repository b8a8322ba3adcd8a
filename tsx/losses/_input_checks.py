"""Argument checks shared by the losses (dtype, shape, rank and axis checks).

They raise the same exception types as Optax's losses: ``TypeError`` for a
wrong dtype, ``ValueError`` for wrong shapes, ranks and axes.
"""


import operator

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_dtype",
    "check_rank",
    "check_same_shape",
    "normalize_axes",
    "normalize_axis",
]


def check_dtype(x: jax.typing.ArrayLike, kind: type, name: str = "input") -> None:
    """Raise ``TypeError`` unless ``x``'s dtype is a subtype of ``kind``."""
    dtype = jax.dtypes.result_type(x)
    if not jnp.issubdtype(dtype, kind):
        raise TypeError(
            f"Expected {name} to have a dtype that is a subdtype of {kind}, "
            f"got {dtype} instead"
        )


def _shape(x: jax.typing.ArrayLike) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def check_same_shape(a: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have exactly the same shape."""
    if _shape(a) != _shape(b):
        raise ValueError(f"Shape mismatch: got {_shape(a)} and {_shape(b)}.")


def check_rank(x: jax.typing.ArrayLike, rank: int) -> None:
    """Raise ``ValueError`` unless ``x`` has ``rank`` dimensions."""
    if len(_shape(x)) != rank:
        raise ValueError(
            f"Expected the input to have rank {rank}, got {len(_shape(x))} instead"
        )


def normalize_axis(axis: int, ndim: int) -> int:
    """``axis`` as a non-negative index into ``ndim`` dimensions."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


def normalize_axes(axes: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """Each axis of ``axes`` as a non-negative index."""
    return tuple(normalize_axis(a, ndim) for a in axes)
