"""Mechanic: a learned scale for any base optimizer's updates.

Cutkosky, Defazio & Mehta (2023), "Mechanic: A Learning Rate Tuner",
arXiv:2306.00144. The base optimizer proposes a direction
:math:`\\Delta_t = \\sum_{i\\le t} u_i` (its accumulated updates); Mechanic
plays :math:`x_t = x_0 + s_t \\Delta_t` and learns the scale
:math:`s_t = \\sum_j s_{t,j}` online, by coin-betting over ``num_betas``
averaging horizons :math:`\\beta_j = 1 - 10^{-j}`:

.. math::

   h_t = \\langle g_t + \\lambda\\, s_{t-1} \\tfrac{\\|g_t\\|}{\\|x_t\\|} x_t,
         \\; \\Delta_{t-1} \\rangle, \\quad
   m_{t,j} = \\max(\\beta_j m_{t-1,j}, |h_t| + \\epsilon), \\quad
   v_{t,j} = \\beta_j^2 v_{t-1,j} + h_t^2,

   r_{t,j} = \\beta_j r_{t-1,j} - s_{t-1,j}\\,
             \\mathrm{clip}(h_t, -m_{t-1,j}, m_{t-1,j}), \\quad
   s_{t,j} = \\frac{\\frac{s_{init}}{n} m_{t,j} + \\max(r_{t,j}, 0)}
                   {\\sqrt{v_{t,j}} + \\epsilon}.

(In the code :math:`\\Delta` is stored with the opposite sign, as
``(x_0 - x_t) / s``, so the reward update reads with a plus.) The returned
update is :math:`x_{t+1} - x_t`.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)
from tsx.validation import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
    require_params,
)

__all__ = ["MechanicState", "mechanize"]


class MechanicState(NamedTuple):
    """State of :func:`mechanize`.

    Attributes:
      base_optimizer_state: the wrapped optimizer's state.
      count: steps taken (int32).
      r: per-horizon rewards, shape ``(num_betas,)``.
      m: per-horizon running maxima of ``|h|``.
      v: per-horizon sums of ``h^2``.
      s: per-horizon scales (their sum multiplies the base direction).
      x0: the initial parameters.
    """

    base_optimizer_state: OptState
    count: jax.Array
    r: jax.Array
    m: jax.Array
    v: jax.Array
    s: jax.Array
    x0: Any


@hyperparameters(
    base_optimizer=TRANSFORMATION,
    weight_decay=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    s_init=POSITIVE,
    num_betas=POSITIVE_INT,
)
def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: jax.typing.ArrayLike = 1e-2,
    eps: jax.typing.ArrayLike = 1e-8,
    s_init: jax.typing.ArrayLike = 1e-6,
    num_betas: int = 6,
) -> GradientTransformationExtraArgs:
    """Wrap ``base_optimizer`` so that Mechanic learns the scale of its steps.

    Args:
      base_optimizer: any transformation (its learning rate only sets the
        direction's scale, which Mechanic relearns; 1 is a good choice).
      weight_decay: :math:`\\lambda`, Mechanic's own norm-scaled decay.
      eps: numerical floor in the maxima and denominators.
      s_init: initial total scale, split over the horizons (> 0).
      num_betas: number of averaging horizons ``1 - 10^-j`` (> 0).

    Extra arguments reach the base optimizer. Needs ``params`` in ``update``.
    """
    base_optimizer = with_extra_args_support(base_optimizer)

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        return MechanicState(
            base_optimizer_state=base_optimizer.init(params),
            count=jnp.zeros([], jnp.int32),
            r=jnp.zeros([num_betas], dtype=dtype),
            m=jnp.zeros([num_betas], dtype=dtype),
            v=jnp.zeros([num_betas], dtype=dtype),
            s=jnp.ones([num_betas], dtype=dtype) * s_init,
            x0=params,
        )

    def update_fn(updates, state, params=None, **extra_args):
        require_params(params, "mechanize")
        count = numerics.safe_increment(state.count)
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args
        )
        x0 = jax.lax.cond(state.count == 0, lambda: params, lambda: state.x0)
        s_sum = jnp.sum(state.s)
        grad_norm = tu.tree_norm(updates)
        param_norm = tu.tree_norm(params)
        decayed = jax.tree.map(
            lambda g, p: g + weight_decay * s_sum * grad_norm / (param_norm + eps) * p,
            updates,
            params,
        )
        # (x0 - x_t) / s: minus the base direction accumulated so far.
        delta_prev = jax.tree.map(lambda x, x_0: (x_0 - x) / (s_sum + eps), params, x0)
        delta = jax.tree.map(lambda d, u: d - u, delta_prev, base_updates)
        h = tu.tree_vdot(decayed, delta_prev)
        clipped_h = jax.lax.clamp(-state.m, jnp.ones_like(state.m) * h, state.m)
        betas = jnp.array(
            [1.0 - 0.1**j for j in range(1, num_betas + 1)], dtype=state.s.dtype
        )
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
        v = (betas**2) * state.v + h**2
        r = betas * state.r + clipped_h * state.s
        wealth = (s_init / jnp.size(betas)) * m + jnp.maximum(0.0, r)
        s = wealth / (jnp.sqrt(v) + eps)
        new_params = jax.tree.map(lambda x_0, d: x_0 - jnp.sum(s) * d, x0, delta)
        new_updates = jax.tree.map(lambda a, b: a - b, new_params, params)
        return new_updates, MechanicState(
            base_optimizer_state=base_state,
            count=count,
            r=r,
            m=m,
            v=v,
            s=s,
            x0=x0,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
