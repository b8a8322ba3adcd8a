"""COCOB-Backprop: learning-rate-free training by coin betting.

Orabona & Tommasi (2017), "Training Deep Networks without Learning Rates
Through Coin Betting", arXiv:1705.07795. Each coordinate bets a fraction of
its accumulated "wealth" on the sign of the negative gradient. With
:math:`L` the largest gradient magnitude seen, :math:`G = \\sum |g|`,
:math:`\\theta = -\\sum g` and the reward
:math:`R_t = \\max(R_{t-1} - g_t (w_t - w_0), 0)`, the new iterate is

.. math::

   w_{t+1} = w_0 + \\frac{\\theta_t}{L_t \\max(G_t + L_t, \\alpha L_t)}
   (L_t + R_t),

returned as the update :math:`w_{t+1} - w_t`. ``alpha`` damps the first
steps; ``eps`` is the initial value of :math:`L`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, Params, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms._scaling import scale_by_learning_rate
from tsx.transforms._weight_decay import add_decayed_weights
from tsx.validation import (
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE,
    hyperparameters,
    require_params,
)

__all__ = ["COCOBState", "cocob", "scale_by_cocob"]


class COCOBState(NamedTuple):
    """State of :func:`scale_by_cocob`.

    Attributes:
      init_particles: the initial parameters :math:`w_0`.
      cumulative_gradients: :math:`\\theta = -\\sum g`.
      scale: :math:`L`, the largest gradient magnitude seen (starts at eps).
      subgradients: :math:`G = \\sum |g|`.
      reward: :math:`R`, the accumulated winnings.
    """

    init_particles: Any
    cumulative_gradients: Any
    scale: Any
    subgradients: Any
    reward: Any


@hyperparameters(
    alpha=POSITIVE,
    eps=NON_NEGATIVE,
)
def scale_by_cocob(
    alpha: jax.typing.ArrayLike = 100.0, eps: jax.typing.ArrayLike = 1e-8
) -> GradientTransformation:
    """Replace updates by COCOB-Backprop's step (needs ``params``).

    Args:
      alpha: damping of the bets during the first steps (> 0).
      eps: initial value of the per-coordinate scale :math:`L` (>= 0).
    """

    def init_fn(params):
        zeros = tu.tree_zeros_like(params)
        return COCOBState(
            init_particles=params,
            cumulative_gradients=zeros,
            scale=tu.tree_scale(eps, tu.tree_ones_like(params)),
            subgradients=zeros,
            reward=zeros,
        )

    def update_fn(updates, state, params=None):
        require_params(params, "cocob")
        w0 = state.init_particles
        scale = jax.tree.map(
            lambda l_, g: jnp.maximum(l_, jnp.abs(g)), state.scale, updates
        )
        subgradients = jax.tree.map(
            lambda s, g: s + jnp.abs(g), state.subgradients, updates
        )
        reward = jax.tree.map(
            lambda r, g, w, w_0: jnp.maximum(r - g * (w - w_0), 0),
            state.reward,
            updates,
            params,
            w0,
        )
        theta = jax.tree.map(lambda c, g: c - g, state.cumulative_gradients, updates)

        def step(w, w_0, c, l_, s, r):
            bet = c / (l_ * jnp.maximum(s + l_, alpha * l_)) * (l_ + r)
            return -w + (w_0 + bet)

        new_updates = jax.tree.map(step, params, w0, theta, scale, subgradients, reward)
        return new_updates, COCOBState(
            init_particles=w0,
            cumulative_gradients=theta,
            scale=scale,
            subgradients=subgradients,
            reward=reward,
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    alpha=POSITIVE,
    eps=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: jax.typing.ArrayLike = 100.0,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    """COCOB-Backprop (Orabona & Tommasi, 2017, arXiv:1705.07795).

    The gradients (plus ``weight_decay * params``) are multiplied by
    ``learning_rate`` (a gradient scale, default 1: no tuning needed) and fed
    to :func:`scale_by_cocob`, whose output is the update.

    Args:
      learning_rate: multiplies the gradients before betting (number or
        schedule).
      alpha: damping of the first bets.
      eps: initial per-coordinate scale.
      weight_decay: coefficient of ``params`` added to the gradients.
      mask: which parameters are decayed (tree or function of the params).
    """
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )
