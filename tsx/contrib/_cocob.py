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


from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, Params, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
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
    r"""COCOB-Backprop: learning-rate-free training by coin betting.

    Each coordinate bets a fraction of its accumulated reward on the sign of
    the negative gradient:

    .. math::

       w_{t+1} = w_0 + \frac{\theta_t}{L_t \max(G_t + L_t,\; \alpha L_t)}\,(L_t + R_t),

    with :math:`L_t` the largest gradient magnitude seen, :math:`G_t = \sum |g|`,
    :math:`\theta_t = -\sum g` and the reward :math:`R_t`; the update is
    :math:`w_{t+1} - w_t` (see the module documentation).

    Args:
      learning_rate: multiplies the gradients before betting, a number >= 0 or
        a schedule. Default 1 (no tuning needed).
      alpha: :math:`\alpha` > 0, damps the first bets. Default 100.
      eps: initial value >= 0 of :math:`L`. Default 1e-8.
      weight_decay: coefficient >= 0 of ``params`` added to the gradients.
        Default 0.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.

    Returns:
      A transformation with state ``(decay_state, scale_state,
      COCOBState(init_particles, cumulative_gradients, scale, subgradients,
      reward))``.

    References:
      Orabona & Tommasi, "Training Deep Networks without Learning Rates Through
      Coin Betting", NeurIPS 2017, arXiv:1705.07795.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.cocob()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )
