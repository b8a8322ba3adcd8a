"""Noisy SGD: gradient descent on gradients plus annealed Gaussian noise.

Neelakantan et al. (2015), "Adding Gradient Noise Improves Learning for Very
Deep Networks", arXiv:1511.06807:

.. math::

   u_t = -\\alpha_t\\,(g_t + \\sigma_t \\xi_t), \\qquad
   \\xi_t \\sim \\mathcal N(0, I), \\qquad \\sigma_t^2 = \\frac{\\eta}{t^{\\gamma}},

for :math:`t = 1, 2, \\dots`; the noise shrinks as training proceeds.
"""

from __future__ import annotations

import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms._noise import add_noise
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.validation import (
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    integer,
    optional,
    prng_key,
)

__all__ = ["noisy_sgd"]


@hyperparameters(
    learning_rate=LEARNING_RATE,
    eta=NON_NEGATIVE,
    gamma=NON_NEGATIVE,
    key=optional(prng_key()),
    seed=optional(integer()),
)
def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: jax.typing.ArrayLike = 0.01,
    gamma: jax.typing.ArrayLike = 0.55,
    key: jax.typing.ArrayLike | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformationExtraArgs:
    """Noisy SGD: ``-learning_rate * (g + sqrt(eta / t**gamma) * N(0, I))``.

    Args:
      learning_rate: a number or a schedule of the step count.
      eta: initial variance of the noise (>= 0).
      gamma: annealing exponent of the variance (>= 0).
      key: PRNG key (``jax.random.key``) or integer seed for the noise; the
        same key draws the same noise as Optax. ``None`` warns and uses 0.
      seed: deprecated spelling of an integer ``key``.

    State: ``(AddNoiseState(count, rng_key), lr_state)``.
    """
    return chain(
        add_noise(eta, gamma, key, seed=seed),
        scale_by_learning_rate(learning_rate),
    )
