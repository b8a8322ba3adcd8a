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

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx.validation import (
    check_in_range,
    check_non_negative,
    check_positive,
    check_schedule_or_non_negative,
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


def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> GradientTransformationExtraArgs:
    """D-Adaptation AdamW (Defazio & Mishchenko, 2023, arXiv:2301.07733).

    Args:
      learning_rate: multiplier :math:`\\gamma_k` of the adapted step (number
        or schedule); keep it at 1 unless warming up or decaying.
      betas: ``(beta1, beta2)`` of Adam's moments, each in [0, 1).
      eps: added to the denominator outside the square root.
      estim_lr0: initial distance estimate :math:`d_0` (> 0).
      weight_decay: decoupled weight decay, scaled by the adapted step.

    Needs ``params`` in ``update``.
    """
    check_schedule_or_non_negative("learning_rate", learning_rate)
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got betas={betas!r}.")
    beta1, beta2 = betas
    check_in_range("betas[0]", beta1, 0.0, 1.0)
    check_in_range("betas[1]", beta2, 0.0, 1.0)
    check_non_negative("eps", eps)
    check_positive("estim_lr0", estim_lr0)
    check_non_negative("weight_decay", weight_decay)

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
        if params is None:
            raise ValueError(
                "dadapt_adamw needs the parameters: call "
                "update(updates, state, params)."
            )
        sqrt_b2 = beta2**0.5
        gamma = learning_rate(state.count) if callable(learning_rate) else learning_rate
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
