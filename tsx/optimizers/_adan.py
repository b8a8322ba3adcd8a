"""Adan: adaptive Nesterov momentum without an extra gradient evaluation.

Xie et al. (2022), "Adan: Adaptive Nesterov Momentum Algorithm for Faster
Optimizing Deep Models", arXiv:2208.06677 (algorithm 1). With the gradient
difference :math:`\\Delta_t = g_t - g_{t-1}` (zero at the first step):

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   v_t = \\beta_2 v_{t-1} + (1-\\beta_2) \\Delta_t,

   n_t = \\beta_3 n_{t-1} + (1-\\beta_3)\\,(g_t + (1-\\beta_2)\\Delta_t)^2,

   u_t = -\\alpha_t \\left(\\frac{\\hat m_t + (1-\\beta_2)\\hat v_t}
   {\\sqrt{\\hat n_t + \\bar\\epsilon} + \\epsilon} + \\lambda \\theta_t\\right),

the hats denoting division by :math:`1-\\beta_i^t`. (The paper writes the
decays as :math:`1-\\beta_i`; here, as in Optax, ``b_i`` multiply the old
averages.)
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
)
from tsx._combine import chain
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    schedule_or,
)

__all__ = ["ScaleByAdanState", "adan", "scale_by_adan"]


class ScaleByAdanState(NamedTuple):
    """State of :func:`scale_by_adan`.

    ``m``: gradient average; ``v``: average gradient difference; ``n``:
    second moment; ``g``: the previous gradient; ``t``: step count.
    """

    m: Any
    v: Any
    n: Any
    g: Any
    t: jax.Array  # int32 scalar


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    b3=DECAY,
    nu_dtype=DTYPE,
)
def scale_by_adan(
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Adan's rescaling ``(m_hat + (1 - b2) v_hat) / (sqrt(n_hat + eps_root) + eps)``.

    Args:
      b1: decay of the gradient average, in [0, 1).
      b2: decay of the gradient-difference average, in [0, 1).
      b3: decay of the second moment, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root.
      nu_dtype: tsx addition; dtype in which the second moment ``n`` is
        stored (default: the params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAdanState(
            m=tu.tree_zeros_like(params),
            v=tu.tree_zeros_like(params),
            n=tu.tree_zeros_like(params, dtype=nu_dtype),
            g=tu.tree_zeros_like(params),
            t=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None):
        del params
        g = updates
        # No previous gradient at the first step: the difference is zero.
        diff = tu.tree_where(
            state.t == 0, tu.tree_zeros_like(g), tu.tree_sub(g, state.g)
        )
        m = tu.tree_update_moment(g, state.m, b1, 1)
        v = tu.tree_update_moment(diff, state.v, b2, 1)
        ahead = tu.tree_add_scale(g, 1 - b2, diff)
        n = tu.tree_update_moment_per_elem_norm(ahead, state.n, b3, 2)
        t = numerics.safe_increment(state.t)
        m_hat = tu.tree_bias_correction(m, b1, t)
        v_hat = tu.tree_bias_correction(v, b2, t)
        n_hat = tu.tree_bias_correction(n, b3, t)
        direction = tu.tree_add_scale(m_hat, 1 - b2, v_hat)
        denom = jax.tree.map(lambda x: jnp.sqrt(x + eps_root) + eps, n_hat)
        return tu.tree_div(direction, denom), ScaleByAdanState(
            m=m, v=v, n=tu.tree_cast(n, nu_dtype), g=g, t=t
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    b3=DECAY,
    weight_decay=schedule_or(NON_NEGATIVE),
    mask=MASK,
    nu_dtype=DTYPE,
)
def adan(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adan: Nesterov-accelerated adaptive moments of gradients and their differences.

    .. math::

       \Delta_t &= g_t - g_{t-1}, \qquad
       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, \Delta_t, \\
       n_t &= \beta_3 n_{t-1} + (1 - \beta_3)\, (g_t + \beta_2 \Delta_t)^2, \\
       u_t &= -\eta_t \left( \frac{\hat m_t + \beta_2 \hat v_t}
              {\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}
              + \lambda\, \theta_t \right),

    with bias-corrected :math:`\hat m_t, \hat v_t, \hat n_t` (the implementation
    writes :math:`1 - \beta` as the paper's :math:`\beta`).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the gradient average, in [0, 1). Default 0.98.
      b2: :math:`\beta_2`, decay of the difference average, in [0, 1).
        Default 0.92.
      b3: :math:`\beta_3`, decay of the second moment, in [0, 1). Default 0.99.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root.
        Default 1e-8.
      weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 0.
      mask: which parameters decay: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdanState(m, v, n, g, t),
      decay_state, lr_state)``.

    References:
      Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster
      Optimizing Deep Models", 2022, arXiv:2208.06677.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adan(learning_rate=0.3)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(300):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0013
    """
    return chain(
        scale_by_adan(
            b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root, nu_dtype=nu_dtype
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
