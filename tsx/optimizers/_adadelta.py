"""Adadelta: a step size from the ratio of running RMS of steps and gradients.

Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method",
arXiv:1212.5701. With running averages of squared gradients and of squared
steps,

.. math::

   E[g^2]_t = \\rho E[g^2]_{t-1} + (1-\\rho) g_t^2, \\qquad
   \\Delta_t = \\frac{\\sqrt{E[\\Delta^2]_{t-1} + \\epsilon}}
   {\\sqrt{E[g^2]_t + \\epsilon}}\\, g_t,

   E[\\Delta^2]_t = \\rho E[\\Delta^2]_{t-1} + (1-\\rho) \\Delta_t^2,

and the update is :math:`-\\alpha_t \\Delta_t` (the paper's method is
:math:`\\alpha = 1`).
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

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
    MASK,
    NON_NEGATIVE,
    OPTIONAL_LEARNING_RATE,
    hyperparameters,
    schedule_or,
)

__all__ = ["ScaleByAdaDeltaState", "adadelta", "scale_by_adadelta"]


class ScaleByAdaDeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`: mean squared gradient and step."""

    e_g: Any
    e_x: Any


@hyperparameters(
    rho=DECAY,
    eps=NON_NEGATIVE,
    nu_dtype=DTYPE,
)
def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Adadelta's step ``sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g``.

    Args:
      rho: decay of both running averages, in [0, 1).
      eps: added under both square roots.
      nu_dtype: tsx addition; dtype in which both averages (second moments)
        are stored (default: the params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAdaDeltaState(
            e_g=tu.tree_zeros_like(params, dtype=nu_dtype),
            e_x=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        e_g = tu.tree_update_moment(updates, state.e_g, rho, 2)
        steps = jax.tree.map(
            lambda g, eg, ex: (jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps)) * g,
            updates,
            e_g,
            state.e_x,
        )
        e_x = tu.tree_update_moment(steps, state.e_x, rho, 2)
        return steps, ScaleByAdaDeltaState(
            e_g=tu.tree_cast(e_g, nu_dtype), e_x=tu.tree_cast(e_x, nu_dtype)
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=OPTIONAL_LEARNING_RATE,
    rho=DECAY,
    eps=NON_NEGATIVE,
    weight_decay=schedule_or(NON_NEGATIVE),
    weight_decay_mask=MASK,
    nu_dtype=DTYPE,
)
def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adadelta: steps scaled by the ratio of running RMS of steps and gradients.

    .. math::

       g'_t &= g_t + \lambda\, \theta_t, \qquad
       E[g^2]_t = \rho\, E[g^2]_{t-1} + (1 - \rho)\, g_t'^2, \\
       s_t &= \frac{\sqrt{E[s^2]_{t-1} + \epsilon}}
                   {\sqrt{E[g^2]_t + \epsilon}}\, g'_t, \qquad
       E[s^2]_t = \rho\, E[s^2]_{t-1} + (1 - \rho)\, s_t^2, \\
       u_t &= -\eta_t\, s_t.

    The weight decay is coupled (added to the gradient before the rescaling).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule; None
        (default) returns :math:`s_t` itself, without the sign flip (as Optax
        does; end the chain with a negative scaling to descend).
      rho: :math:`\rho`, decay of both running averages, in [0, 1). Default 0.9.
      eps: :math:`\epsilon` >= 0, inside both square roots. Default 1e-6.
      weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 0.
      weight_decay_mask: which parameters decay (a tree of booleans or a
        function ``params -> tree``); None (default): all.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(decay_state, ScaleByAdaDeltaState(e_g,
      e_x), lr_state)``.

    References:
      Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012,
      arXiv:1212.5701.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adadelta(learning_rate=10.0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0087
    """
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho=rho, eps=eps, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )
