"""Layer-wise DoG: a learning-rate-free step size, distance over gradients.

Ivgi et al. (2023), "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step
Size Schedule", arXiv:2302.12022 (the layer-wise variant, LDoG). For each
parameter array, with :math:`x_0` its initial value,

.. math::

   \\bar r_t = \\max\\big(r_\\epsilon (1 + \\|x_0\\|),
   \\max_{s \\le t} \\|x_s - x_0\\|\\big), \\qquad
   G_t = \\sum_{s \\le t} \\|g_s\\|^2,

   u_t = \\sigma\\, \\frac{\\bar r_t}{\\sqrt{G_t + \\epsilon}}\\, g_t,

with :math:`\\sigma` the ``global_scale`` (-1 for descent when used alone).
It stores one copy of the initial parameters and two scalars per array; the
authors recommend averaging the iterates.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation
from tsx.validation import (
    DTYPE,
    NON_NEGATIVE,
    hyperparameters,
    real,
    require_params,
)

__all__ = ["ScaleByDistanceOverGradientsState", "scale_by_distance_over_gradients"]


class ScaleByDistanceOverGradientsState(NamedTuple):
    """State of :func:`scale_by_distance_over_gradients`.

    ``max_dist``: per-array largest distance from the start (a scalar);
    ``grad_sum_of_squares``: per-array running sum of squared gradients (a
    ``(1,)`` array); ``init_params``: the initial parameters.
    """

    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any


def _distance(x: jax.Array, y: jax.typing.ArrayLike = 0.0) -> jax.Array:
    return jnp.sqrt(jnp.square(x - y).sum())


@hyperparameters(
    reps_rel=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    param_dtype=DTYPE,
    global_scale=real(),
)
def scale_by_distance_over_gradients(
    reps_rel: jax.typing.ArrayLike = 1e-6,
    eps: jax.typing.ArrayLike = 1e-8,
    param_dtype: Any = jnp.float32,
    global_scale: jax.typing.ArrayLike = 1.0,
) -> GradientTransformation:
    """Scale each array's update by ``max_dist / sqrt(sum of squared grads + eps)``.

    Args:
      reps_rel: relative size of the initial distance ``reps_rel * (1 +
        ||x0||)`` (the paper suggests 1e-4 with batch norm, 1e-6 otherwise).
      eps: added under the square root.
      param_dtype: dtype of the stored initial parameters.
      global_scale: multiplies every step (typically 1.0 or -1.0).
    """

    def init_fn(params):
        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree.map(lambda x: reps_rel * (1 + _distance(x)), params),
            grad_sum_of_squares=jax.tree.map(lambda x: jnp.zeros(1), params),
            init_params=tu.tree_cast(params, param_dtype),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "scale_by_distance_over_gradients")
        max_dist = jax.tree.map(
            lambda d, x, x0: jnp.maximum(d, _distance(x, x0)),
            state.max_dist,
            params,
            state.init_params,
        )
        sum_sq = jax.tree.map(
            lambda s, g: s + jnp.square(g).sum(), state.grad_sum_of_squares, updates
        )
        # The sum of squares is stored with shape (1,) (Optax's layout); the
        # step factor is a scalar, so a scalar parameter keeps its shape
        # (Optax's update broadcasts it to (1,)).
        new_updates = jax.tree.map(
            lambda g, d, s: global_scale * (d / jnp.sqrt(s + eps)).reshape(()) * g,
            updates,
            max_dist,
            sum_sq,
        )
        return new_updates, ScaleByDistanceOverGradientsState(
            max_dist, sum_sq, state.init_params
        )

    return GradientTransformation(init_fn, update_fn)
