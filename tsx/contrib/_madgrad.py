"""MADGRAD: a momentumized, adaptive, dual-averaged gradient method.

Defazio & Jelassi (2021), "Adaptivity without Compromise: A Momentumized,
Adaptive, Dual Averaged Gradient Method for Stochastic Optimization",
arXiv:2101.11075. With :math:`\\lambda_k = (\\gamma_k + \\epsilon)\\sqrt{k+1}`,

.. math::

   s_k = s_{k-1} + \\lambda_k g_k, \\qquad
   \\nu_k = \\nu_{k-1} + \\lambda_k g_k^2, \\qquad
   z_k = x_0 - \\frac{s_k}{\\sqrt[3]{\\nu_k} + \\epsilon},

   x_{k+1} = (1 - c)\\, z_k + c\\, x_k,

where :math:`c` is ``momentum``; the update is :math:`x_{k+1} - x_k`. The
cube root (rather than AdaGrad's square root) is what lets the dual average
work with momentum.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms import add_decayed_weights
from tsx.validation import (
    DECAY,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    require_params,
)

__all__ = ["MadgradState", "madgrad", "scale_by_madgrad"]


class MadgradState(NamedTuple):
    """State of :func:`scale_by_madgrad`.

    Attributes:
      count: steps taken (int32).
      grad_sum_sq: :math:`\\nu_k`, weighted sum of squared gradients.
      s: :math:`s_k`, weighted sum of gradients.
      x0: the initial parameters.
    """

    count: jax.Array
    grad_sum_sq: Any
    s: Any
    x0: Any


@hyperparameters(
    learning_rate=LEARNING_RATE,
    momentum=DECAY,
    eps=NON_NEGATIVE,
)
def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    """MADGRAD's step ``x_{k+1} - x_k`` (the learning rate is built in).

    Args:
      learning_rate: :math:`\\gamma_k`, a number or a schedule.
      momentum: :math:`c` in [0, 1), weight of the current iterate.
      eps: added to the learning rate and to the cube-root denominator.

    Needs ``params`` in ``update``.
    """

    def init_fn(params):
        return MadgradState(
            count=jnp.zeros([], jnp.int32),
            grad_sum_sq=tu.tree_zeros_like(params),
            s=tu.tree_zeros_like(params),
            x0=jax.tree.map(lambda x: x, params),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "madgrad")
        lr = numerics.schedule_value(learning_rate, state.count, "learning rate")
        weight = (lr + eps) * jnp.sqrt(state.count + 1)
        grad_sum_sq = jax.tree.map(
            lambda v, g: v + (weight * (g**2)).astype(g.dtype),
            state.grad_sum_sq,
            updates,
        )
        s = jax.tree.map(
            lambda s_, g: s_ + (weight * g).astype(g.dtype), state.s, updates
        )
        z = jax.tree.map(
            lambda x0, s_, v: x0 - s_ / (jnp.cbrt(v) + eps), state.x0, s, grad_sum_sq
        )
        x_new = jax.tree.map(
            lambda z_, x: (1 - momentum) * z_ + momentum * x, z, params
        )
        new_updates = jax.tree.map(lambda a, b: a - b, x_new, params)
        return new_updates, MadgradState(
            count=numerics.safe_increment(state.count),
            grad_sum_sq=grad_sum_sq,
            s=s,
            x0=state.x0,
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    momentum=DECAY,
    weight_decay=NON_NEGATIVE,
    eps=NON_NEGATIVE,
)
def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD: a momentumized, adaptive, dual-averaged gradient method.

    .. math::

       \lambda_k &= (\gamma_k + \epsilon) \sqrt{k + 1}, \qquad
       s_k = s_{k-1} + \lambda_k g_k, \qquad \nu_k = \nu_{k-1} + \lambda_k g_k^2, \\
       z_k &= x_0 - \frac{s_k}{\sqrt[3]{\nu_k} + \epsilon}, \qquad
       x_{k+1} = (1 - c)\, z_k + c\, x_k,

    with :math:`c` = ``momentum``; the update is :math:`x_{k+1} - x_k`, after
    ``weight_decay * params`` is added to the gradients.

    Args:
      learning_rate: :math:`\gamma_k` >= 0, a number or a schedule.
      momentum: :math:`c` in [0, 1). Default 0.9.
      weight_decay: >= 0, coupled (added to the gradients). Default 0.
      eps: :math:`\epsilon` >= 0. Default 1e-6.

    Returns:
      A transformation with state ``(decay_state, MadgradState(count,
      grad_sum_sq, s, x0))``.

    References:
      Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized,
      Adaptive, Dual Averaged Gradient Method for Stochastic Optimization",
      JMLR 23 (2022), arXiv:2101.11075.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.madgrad(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps),
    )
