"""Noisy SGD: gradient descent on gradients plus annealed Gaussian noise.

Neelakantan et al. (2015), "Adding Gradient Noise Improves Learning for Very
Deep Networks", arXiv:1511.06807:

.. math::

   u_t = -\\alpha_t\\,(g_t + \\sigma_t \\xi_t), \\qquad
   \\xi_t \\sim \\mathcal N(0, I), \\qquad \\sigma_t^2 = \\frac{\\eta}{t^{\\gamma}},

for :math:`t = 1, 2, \\dots`; the noise shrinks as training proceeds.
"""


import jax

from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms import add_noise, scale_by_learning_rate
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
    r"""Noisy SGD: gradient descent with annealed Gaussian noise.

    .. math::

       u_t = -\eta_t \left( g_t + \sqrt{\eta / (1 + t)^{\gamma}}\; \xi_t \right),
       \qquad \xi_t \sim \mathcal{N}(0, I).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      eta: :math:`\eta` >= 0, the initial variance of the noise. Default 0.01.
      gamma: :math:`\gamma` >= 0, the annealing exponent. Default 0.55.
      key: PRNG key (``jax.random.key``) or integer seed of the noise; the same
        key draws the same noise as Optax. None (default) warns and uses 0.
      seed: deprecated spelling of an integer ``key``.

    Returns:
      A transformation with state ``(AddNoiseState(count, rng_key),
      lr_state)``.

    References:
      Neelakantan et al., "Adding Gradient Noise Improves Learning for Very
      Deep Networks", 2015, arXiv:1511.06807.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.noisy_sgd(learning_rate=0.1, key=jax.random.key(0))
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        add_noise(eta, gamma, key, seed=seed),
        scale_by_learning_rate(learning_rate),
    )
