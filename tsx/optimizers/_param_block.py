"""Scaling each parameter block's update by the size of that block.

A *block* is one leaf of the parameter tree (a weight matrix, a bias
vector, a convolution kernel). Multiplying a block's update by the block's
norm or root-mean-square makes the step relative to the weights' scale, as
Adafactor's ``multiply_by_parameter_scale`` does (Shazeer & Stern, 2018,
"Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
arXiv:1804.04235, section 8).
"""


import jax

from tsx import numerics
from tsx._base import GradientTransformation, init_empty_state
from tsx.validation import (
    NON_NEGATIVE,
    hyperparameters,
    require_params,
)

__all__ = ["scale_by_param_block_norm", "scale_by_param_block_rms"]


def _scale_by_param_statistic(statistic, name: str) -> GradientTransformation:
    def update_fn(updates, state, params=None):
        require_params(params, name)
        return jax.tree.map(lambda u, p: u * statistic(p), updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    min_scale=NON_NEGATIVE,
)
def scale_by_param_block_norm(
    min_scale: jax.typing.ArrayLike = 1e-3,
) -> GradientTransformation:
    """Multiply each leaf's update by ``max(||p||_2, min_scale)`` of its params.

    Args:
      min_scale: lower bound on the factor (so zero-initialised blocks move).
    """
    return _scale_by_param_statistic(
        lambda p: numerics.safe_norm(p, min_scale), "scale_by_param_block_norm"
    )


@hyperparameters(
    min_scale=NON_NEGATIVE,
)
def scale_by_param_block_rms(
    min_scale: jax.typing.ArrayLike = 1e-3,
) -> GradientTransformation:
    """Multiply each leaf's update by ``max(rms(p), min_scale)`` of its params.

    ``rms(p) = sqrt(mean(p**2))`` over the leaf.

    Args:
      min_scale: lower bound on the factor (so zero-initialised blocks move).
    """
    return _scale_by_param_statistic(
        lambda p: numerics.safe_root_mean_squares(p, min_scale),
        "scale_by_param_block_rms",
    )
