"""Prodigy: D-Adaptation with a faster-growing distance estimate.

Mishchenko & Defazio (2023), "Prodigy: An Expeditiously Adaptive
Parameter-Free Learner", arXiv:2306.06101. Adam is run on
:math:`d_k`-scaled gradients :math:`d_k g_k`, and :math:`d_k` (a lower bound
on the distance to the solution) is updated from the weighted correlation of
gradients with the distance travelled:

.. math::

   \\lambda_k = \\gamma_k d_k \\frac{\\sqrt{1-\\beta_2^{k}}}{1-\\beta_1^{k}}, \\quad
   r_k = \\beta_3 r_{k-1} + \\frac{d_k}{d_0}\\lambda_k
         \\langle g_k, x_0 - x_k\\rangle, \\quad
   s_k = \\beta_3 s_{k-1} + \\frac{\\lambda_k}{d_0} d_k g_k,

   d_{k+1} = \\max\\!\\left(d_k, c\\, \\frac{r_k}{\\|s_k\\|_1}\\right), \\qquad
   x_{k+1} = x_k - \\lambda_k \\left(\\frac{m_k}{\\sqrt{v_k} + d_k\\epsilon}
   + w\\, x_k\\right),

with :math:`m_k, v_k` Adam's moments of :math:`d_k g_k`, :math:`\\beta_3 =
\\sqrt{\\beta_2}` by default and :math:`c` = ``estim_lr_coef``. With
``safeguard_warmup`` the step :math:`\\lambda_k` in :math:`s_k` is replaced by
:math:`d_k` (no learning-rate warmup factor).
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx.validation import (
    BOOL,
    DECAY,
    LEARNING_RATE,
    NON_NEGATIVE,
    POSITIVE,
    hyperparameters,
    optional,
    require_params,
    sequence_of,
)

__all__ = ["ProdigyState", "prodigy"]


class ProdigyState(NamedTuple):
    """State of :func:`prodigy`.

    Attributes:
      exp_avg: first moment of the scaled gradients :math:`d g`.
      exp_avg_sq: second moment of the scaled gradients.
      grad_sum: :math:`s_k`.
      params0: the initial parameters :math:`x_0`.
      estim_lr: :math:`d_k` (scalar, params' dtype).
      numerator_weighted: :math:`r_k` (scalar, params' dtype).
      count: steps taken (int32).
    """

    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array


@hyperparameters(
    learning_rate=LEARNING_RATE,
    betas=sequence_of(DECAY, 2),
    beta3=optional(DECAY),
    eps=NON_NEGATIVE,
    estim_lr0=POSITIVE,
    estim_lr_coef=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    safeguard_warmup=BOOL,
)
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    beta3: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    estim_lr_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Prodigy: D-Adaptation with a faster-growing distance estimate.

    .. math::

       x_{k+1} = x_k - \lambda_k \left( \frac{m_k}{\sqrt{v_k} + d_k \epsilon}
                 + w\, x_k \right), \qquad
       \lambda_k = \gamma_k\, d_k\, \frac{\sqrt{1 - \beta_2^k}}{1 - \beta_1^k},

    with Adam's moments of :math:`d_k g_k` and :math:`d_k` the estimate of the
    distance to the solution (see the module documentation). ``update`` needs
    ``params``.

    Args:
      learning_rate: :math:`\gamma_k` >= 0, a multiplier of the adapted step
        (number or schedule; 1 unless warming up or decaying). Default 1.
      betas: ``(beta1, beta2)`` of Adam's moments, each in [0, 1). Default
        ``(0.9, 0.999)``.
      beta3: decay of the estimate's statistics, in [0, 1); None (default):
        :math:`\sqrt{\beta_2}`.
      eps: :math:`\epsilon` >= 0, relative to :math:`d_k`. Default 1e-8.
      estim_lr0: :math:`d_0` > 0. Default 1e-6.
      estim_lr_coef: :math:`c` >= 0, multiplies the new estimate. Default 1.
      weight_decay: :math:`w` >= 0, decoupled, scaled by the step. Default 0.
      safeguard_warmup: leave the learning rate out of the estimate's
        statistics. Default False.

    Returns:
      A transformation with state ``ProdigyState(exp_avg, exp_avg_sq,
      grad_sum, params0, estim_lr, numerator_weighted, count)``.

    References:
      Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free
      Learner", ICML 2024, arXiv:2306.06101.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.prodigy()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0021
    """
    beta1, beta2 = betas
    if beta3 is None:
        beta3 = beta2**0.5

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        return ProdigyState(
            exp_avg=tu.tree_zeros_like(params),
            exp_avg_sq=tu.tree_zeros_like(params),
            grad_sum=tu.tree_zeros_like(params),
            params0=params,
            estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
            numerator_weighted=jnp.zeros((), dtype=dtype),
            count=jnp.zeros((), jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        require_params(params, "prodigy")
        d = state.estim_lr
        count = numerics.safe_increment(state.count)
        gamma = numerics.schedule_value(learning_rate, state.count, "learning rate")
        bias = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        step = jnp.asarray(d * gamma * bias, dtype=d.dtype)
        dg = jax.tree.map(lambda g: d * g, updates)
        travelled = jax.tree.map(lambda x0, x: x0 - x, state.params0, params)
        inner = tu.tree_vdot(updates, travelled)
        exp_avg = jax.tree.map(
            lambda m, u: beta1 * m + (1 - beta1) * u, state.exp_avg, dg
        )
        exp_avg_sq = jax.tree.map(
            lambda v, u: beta2 * v + (1 - beta2) * u * u, state.exp_avg_sq, dg
        )
        weight = d if safeguard_warmup else step
        grad_sum = jax.tree.map(
            lambda s, u: beta3 * s + weight * u / estim_lr0, state.grad_sum, dg
        )
        numerator = beta3 * state.numerator_weighted
        numerator += (d / estim_lr0) * step * inner
        denominator = tu.tree_sum(jax.tree.map(jnp.abs, grad_sum))
        estim_lr = jnp.maximum(d, estim_lr_coef * numerator / denominator)
        new_updates = jax.tree.map(
            lambda m, v, p: (
                -weight_decay * step * p - step * m / (jnp.sqrt(v) + d * eps)
            ),
            exp_avg,
            exp_avg_sq,
            params,
        )
        return new_updates, ProdigyState(
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            grad_sum=grad_sum,
            params0=state.params0,
            estim_lr=estim_lr,
            numerator_weighted=numerator,
            count=count,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
