"""Fromage: Frobenius-matched gradient descent.

Bernstein et al. (2020), "On the distance between two neural networks and
the stability of learning", arXiv:2002.03432. Each layer moves by a step
whose size is relative to its own weight norm, then is shrunk so that the
weight norm does not grow:

.. math::

   \\theta_{t+1} = \\frac{1}{\\sqrt{1+\\eta_t^2}}\\left(\\theta_t - \\eta_t
   \\frac{\\|\\theta_t\\|}{\\|g_t\\|} g_t\\right).

As an additive update this is the trust-ratio step scaled by
:math:`-\\eta_t/\\sqrt{1+\\eta_t^2}`, plus :math:`(1/\\sqrt{1+\\eta_t^2} - 1)
\\theta_t`.
"""


import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    init_empty_state,
)
from tsx._combine import chain
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    require_params,
)

__all__ = ["fromage"]


def _add_scaled_params(rate: jax.typing.ArrayLike) -> GradientTransformation:
    """``u + rate * p`` for a constant ``rate`` that may be negative (a shrink)."""

    def update_fn(updates, state, params=None):
        require_params(params, "fromage")
        new = jax.tree.map(
            lambda u, p: None if u is None else u + rate * p,
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        return new, state

    return GradientTransformation(init_empty_state, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    min_norm=NON_NEGATIVE,
)
def fromage(
    learning_rate: ScalarOrSchedule, min_norm: jax.typing.ArrayLike = 1e-6
) -> GradientTransformationExtraArgs:
    r"""Fromage: steps relative to the parameter norm, then a shrink.

    Per parameter block:

    .. math::

       u_t = \frac{\theta_t
              - \eta_t\, \frac{\lVert\theta_t\rVert}{\lVert g_t\rVert} g_t}
                  {\sqrt{1 + \eta_t^2}} - \theta_t,

    so each step changes a block by a fixed fraction of its norm (norms are
    bounded below by ``min_norm``).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      min_norm: lower bound >= 0 of the parameter and gradient norms in the
        ratio (avoids dividing by zero). Default 1e-6.

    Returns:
      A transformation whose state is three empty states for a constant
      learning rate; with a schedule, the learning-rate and shrink stages each
      count steps.

    References:
      Bernstein et al., "On the distance between two neural networks and the
      stability of learning", NeurIPS 2020, arXiv:2002.03432.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.fromage(learning_rate=0.1)
      >>> params = jnp.array([0.5, -0.5])  # steps are relative to the params' norm
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.array([0.5, -0.5])):.2f} -> {f(params):.4f}")
      loss 2.50 -> 0.0015
    """
    if callable(learning_rate):

        def shrink(count):
            return 1 / (1 + learning_rate(count) ** 2) ** 0.5

        return chain(
            scale_by_trust_ratio(min_norm),
            scale_by_learning_rate(lambda c: shrink(c) * learning_rate(c)),
            # The shrink is negative, which add_decayed_weights' check refuses
            # for a user's decay: build it unchecked (Optax's state layout).
            add_decayed_weights.__wrapped__(lambda c: shrink(c) - 1),
        )
    shrink = 1 / (1 + learning_rate**2) ** 0.5
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(learning_rate * shrink),
        _add_scaled_params(shrink - 1),
    )
