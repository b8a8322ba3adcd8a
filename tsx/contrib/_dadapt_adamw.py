"""D-Adaptation AdamW: Adam whose step size estimates the distance to a solution.

Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by D-Adaptation",
arXiv:2301.07733. Adam's step is multiplied by :math:`d_k`, a running lower
bound on :math:`\\|x_0 - x_*\\|` built from the weighted gradient sum
:math:`s_k`:

.. math::

   \\lambda_k = \\gamma_k d_k \\frac{\\sqrt{1-\\beta_2^{k}}}{1-\\beta_1^{k}},
   \\qquad
   s_k = \\sqrt{\\beta_2} s_{k-1} + (1-\\sqrt{\\beta_2}) \\lambda_k g_k,

   r_k = \\sqrt{\\beta_2} r_{k-1} + (1-\\sqrt{\\beta_2}) \\lambda_k
   \\langle g_k, s_{k-1} / (\\sqrt{v_{k-1}} + \\epsilon) \\rangle, \\qquad
   d_{k+1} = \\max\\!\\left(d_k, \\frac{r_k}{(1-\\sqrt{\\beta_2})\\|s_k\\|_1}
   \\right),

with Adam's moments :math:`m_k = \\beta_1 m_{k-1} + (1-\\beta_1)\\lambda_k
g_k` (already scaled by the step) and :math:`v_k`; the update is
:math:`-m_k / (\\sqrt{v_k} + \\epsilon) - w \\lambda_k x_k`.
``learning_rate`` (:math:`\\gamma_k`) is a multiplier, 1 by default.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx.validation import (
    DECAY,
    LEARNING_RATE,
    NON_NEGATIVE,
    POSITIVE,
    hyperparameters,
    require_params,
    sequence_of,
)

__all__ = ["DAdaptAdamWState", "dadapt_adamw"]


class DAdaptAdamWState(NamedTuple):
    """State of :func:`dadapt_adamw`.

    Attributes:
      exp_avg: first moment of the step-scaled gradients.
      exp_avg_sq: second moment of the gradients.
      grad_sum: :math:`s_k`, the weighted sum of step-scaled gradients.
      estim_lr: :math:`d_k`, the distance estimate (scalar, params' dtype).
      numerator_weighted: :math:`r_k` (scalar, params' dtype).
      count: steps taken (int32).
    """

    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array


@hyperparameters(
    learning_rate=LEARNING_RATE,
    betas=sequence_of(DECAY, 2),
    eps=NON_NEGATIVE,
    estim_lr0=POSITIVE,
    weight_decay=NON_NEGATIVE,
)
def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> GradientTransformationExtraArgs:
    r"""D-Adaptation AdamW: Adam whose step size estimates the distance to a solution.

    .. math::

       u_k = -\frac{m_k}{\sqrt{v_k} + \epsilon} - w\, \lambda_k\, x_k, \qquad
       \lambda_k = \gamma_k\, d_k\, \frac{\sqrt{1 - \beta_2^k}}{1 - \beta_1^k},

    where Adam's moments :math:`m_k, v_k` see :math:`\lambda_k g_k` and
    :math:`d_k` is a growing lower bound of :math:`\lVert x_0 - x_* \rVert` (see
    the module documentation). ``update`` needs ``params``.

    Args:
      learning_rate: :math:`\gamma_k` >= 0, a multiplier of the adapted step
        (number or schedule); keep it at 1 unless warming up or decaying.
        Default 1.
      betas: ``(beta1, beta2)`` of Adam's moments, each in [0, 1). Default
        ``(0.9, 0.999)``.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      estim_lr0: :math:`d_0` > 0, the initial distance estimate. Default 1e-6.
      weight_decay: :math:`w` >= 0, decoupled weight decay scaled by the step.
        Default 0.

    Returns:
      A transformation with state ``DAdaptAdamWState(exp_avg, exp_avg_sq,
      grad_sum, estim_lr, numerator_weighted, count)``.

    References:
      Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML
      2023, arXiv:2301.07733.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.dadapt_adamw()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0002
    """
    beta1, beta2 = betas

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        return DAdaptAdamWState(
            exp_avg=tu.tree_zeros_like(params),
            exp_avg_sq=tu.tree_zeros_like(params),
            grad_sum=tu.tree_zeros_like(params),
            estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
            numerator_weighted=jnp.zeros([], dtype=dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        require_params(params, "dadapt_adamw")
        sqrt_b2 = beta2**0.5
        gamma = numerics.schedule_value(learning_rate, state.count, "learning rate")
        count = numerics.safe_increment(state.count)
        bias = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        step = (state.estim_lr * gamma * bias).astype(state.numerator_weighted.dtype)
        # <g_k, s_{k-1} / (sqrt(v_{k-1}) + eps)> uses the moments of the last step.
        s_weighted = jax.tree.map(
            lambda s, v: s / (jnp.sqrt(v) + eps), state.grad_sum, state.exp_avg_sq
        )
        inner = tu.tree_vdot(updates, s_weighted)
        exp_avg = jax.tree.map(
            lambda m, g: beta1 * m + (1 - beta1) * step * g, state.exp_avg, updates
        )
        exp_avg_sq = jax.tree.map(
            lambda v, g: beta2 * v + (1 - beta2) * g * g, state.exp_avg_sq, updates
        )
        grad_sum = jax.tree.map(
            lambda s, g: sqrt_b2 * s + (1 - sqrt_b2) * step * g,
            state.grad_sum,
            updates,
        )
        grad_sum_l1 = tu.tree_sum(jax.tree.map(jnp.abs, grad_sum))
        numerator = sqrt_b2 * state.numerator_weighted + (1 - sqrt_b2) * step * inner
        d_estimate = numerator / ((1 - sqrt_b2) * grad_sum_l1)
        estim_lr = jnp.maximum(state.estim_lr, d_estimate)
        new_updates = jax.tree.map(
            lambda m, v, p: -weight_decay * step * p - m / (jnp.sqrt(v) + eps),
            exp_avg,
            exp_avg_sq,
            params,
        )
        return new_updates, DAdaptAdamWState(
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            grad_sum=grad_sum,
            estim_lr=estim_lr,
            numerator_weighted=numerator,
            count=count,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
