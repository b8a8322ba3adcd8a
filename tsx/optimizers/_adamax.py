"""Adamax: Adam with the infinity norm in place of the second moment.

Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization",
arXiv:1412.6980, section 7.1. Letting Adam's :math:`L^2` norm go to
:math:`L^\\infty` gives

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   v_t = \\max(|g_t| + \\epsilon, \\beta_2 v_{t-1}),

   u_t = -\\alpha_t\\, \\frac{m_t}{(1-\\beta_1^t)\\, v_t};

the infinity moment needs no bias correction. AdamaxW adds decoupled weight
decay (Loshchilov & Hutter, 2019, arXiv:1711.05101).
"""


from typing import Any

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
from tsx.optimizers._adam import ScaleByAdamState
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

__all__ = ["adamax", "adamaxw", "scale_by_adamax"]


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    nu_dtype=DTYPE,
)
def scale_by_adamax(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Adamax's rescaling ``m_hat / v`` (no learning rate).

    The state is a :class:`ScaleByAdamState` whose ``nu`` holds the decayed
    infinity norm ``v``.

    Args:
      b1: decay of the gradient average, in [0, 1).
      b2: decay of the running maximum, in [0, 1).
      eps: added to ``|g|`` (keeps ``v`` positive).
      nu_dtype: tsx addition; dtype in which ``nu`` is stored (default: the
        params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        nu = tu.tree_update_infinity_moment(updates, state.nu, b2, eps)
        mu_hat = tu.tree_bias_correction(mu, b1, count)
        new_updates = jax.tree.map(lambda m, v: m / v, mu_hat, nu)
        return new_updates, ScaleByAdamState(
            count=count, mu=mu, nu=tu.tree_cast(nu, nu_dtype)
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    nu_dtype=DTYPE,
)
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::

       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       v_t = \max(\beta_2 v_{t-1}, |g_t| + \epsilon), \qquad
       u_t = -\eta_t\, \frac{m_t}{(1 - \beta_1^t)\, v_t}.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the infinity norm, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, keeps :math:`v_t` away from zero. Default 1e-8.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      lr_state)``.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      arXiv:1412.6980, section 7.1.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adamax(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_adamax(b1=b1, b2=b2, eps=eps, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    weight_decay=schedule_or(NON_NEGATIVE),
    mask=MASK,
    nu_dtype=DTYPE,
)
def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""AdamaxW: Adamax with decoupled weight decay.

    .. math::

       u_t = -\eta_t \left( \frac{m_t}{(1 - \beta_1^t)\, v_t}
              + \lambda\, \theta_t \right),

    with Adamax's :math:`m_t, v_t` (see :func:`adamax`); the decay is
    multiplied by the learning rate, as in PyTorch.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the infinity norm, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, keeps :math:`v_t` away from zero. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 1e-4.
      mask: which parameters decay: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      decay_state, lr_state)``.

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      arXiv:1711.05101.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adamaxw(learning_rate=0.1, weight_decay=1e-4)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_adamax(b1=b1, b2=b2, eps=eps, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
