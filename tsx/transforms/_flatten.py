"""Running a transformation on one flat vector of all parameters (``flatten``)."""


from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)
from tsx.validation import (
    TRANSFORMATION,
    hyperparameters,
)

__all__ = ["flatten"]


def _to_vector(tree: Any) -> jax.Array:
    return jnp.concatenate([jnp.reshape(x, [-1]) for x in jax.tree.leaves(tree)])


def _from_vector(like: Any, flat: jax.Array) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    cuts = np.cumsum([np.size(x) for x in leaves])[:-1]
    pieces = jnp.split(flat, cuts)
    return jax.tree.unflatten(
        treedef,
        [jnp.reshape(p, np.shape(x)) for p, x in zip(pieces, leaves, strict=True)],
    )


@hyperparameters(
    inner=TRANSFORMATION,
)
def flatten(inner: GradientTransformation) -> GradientTransformationExtraArgs:
    """Give ``inner`` the concatenation of all leaves as a single 1-D array.

    Params and updates are raveled leaf by leaf (in JAX's flattening order)
    and concatenated; ``inner``'s output is split and reshaped back. Many
    small leaves become one large array, which cuts per-leaf overhead at the
    cost of a copy. ``inner``'s state is built for the flat vector.

    Args:
      inner: the transformation to run on the flat vector.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` whose state is
      ``inner``'s state for the flat vector.
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return inner.init(_to_vector(params))

    def update_fn(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _to_vector(params)
        flat, state = inner.update(
            _to_vector(updates), state, flat_params, **extra_args
        )
        return _from_vector(updates, flat), state

    return GradientTransformationExtraArgs(init_fn, update_fn)
