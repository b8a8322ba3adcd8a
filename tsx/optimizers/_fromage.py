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

from __future__ import annotations

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    init_empty_state,
)
from tsx._combine import chain
from tsx.optimizers._trust_ratio import scale_by_trust_ratio
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.transforms._weight_decay import add_decayed_weights
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
    """Fromage: a trust-ratio step of size ``lr / sqrt(1 + lr**2)``, then a shrink.

    Args:
      learning_rate: ``eta``, a number or a schedule of the step count.
      min_norm: lower bound on the parameter and update norms in the trust
        ratio (avoids dividing by zero).

    State: three empty states for a constant learning rate; with a schedule
    the learning-rate and shrink stages each count steps.
    """
    if callable(learning_rate):

        def shrink(count):
            return 1 / (1 + learning_rate(count) ** 2) ** 0.5

        return chain(
            scale_by_trust_ratio(min_norm),
            scale_by_learning_rate(lambda c: shrink(c) * learning_rate(c)),
            # The shrink is negative: a schedule is not sign-checked.
            add_decayed_weights(lambda c: shrink(c) - 1),
        )
    shrink = 1 / (1 + learning_rate**2) ** 0.5
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(learning_rate * shrink),
        _add_scaled_params(shrink - 1),
    )
