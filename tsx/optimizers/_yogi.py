"""Yogi: Adam with an additive, sign-controlled second-moment update.

Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization", NeurIPS.
Adam's second moment :math:`v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2` can
grow the effective learning rate quickly when gradients shrink; Yogi replaces
it by

.. math::

   v_t = v_{t-1} - (1-\\beta_2)\\,\\mathrm{sign}(v_{t-1} - g_t^2)\\, g_t^2,

which moves :math:`v` towards :math:`g^2` by at most :math:`(1-\\beta_2) g^2`
per step. The step is :math:`\\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}}
+ \\epsilon)` with Adam's bias corrections; both moments start at
``initial_accumulator_value`` rather than zero.
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
from tsx.transforms import scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["scale_by_yogi", "yogi"]


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    initial_accumulator_value=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def scale_by_yogi(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    eps_root: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
    *,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Rescale updates by Yogi's moments (no learning rate).

    State: :class:`~tsx.ScaleByAdamState` ``(count, mu, nu)``.

    Args:
      b1: decay of the first-moment average, in [0, 1).
      b2: rate of the additive second-moment update, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root.
      initial_accumulator_value: starting value of both moments (>= 0).
      mu_dtype: dtype of the first moment (tsx addition; default: the
        parameters').
      nu_dtype: dtype of the second moment (tsx addition; default: the
        parameters').
    """
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jnp.dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_full_like(params, initial_accumulator_value, dtype=mu_dtype),
            nu=tu.tree_full_like(params, initial_accumulator_value, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)

        def second(g, v):
            g2 = numerics.abs_sq(g)
            # The sign term caps how fast v can follow g**2 in either direction.
            return v - (1 - b2) * jnp.sign(v - g2) * g2

        nu = jax.tree.map(second, updates, state.nu)
        count = numerics.safe_increment(state.count)
        mu_hat = tu.tree_bias_correction(mu, b1, count)
        nu_hat = tu.tree_bias_correction(nu, b2, count)
        new_updates = jax.tree.map(
            lambda m, v: None if m is None else m / (jnp.sqrt(v + eps_root) + eps),
            mu_hat,
            nu_hat,
            is_leaf=lambda x: x is None,
        )
        return new_updates, ScaleByAdamState(
            count=count,
            mu=tu.tree_cast_like(mu, state.mu),
            nu=tu.tree_cast_like(nu, state.nu),
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def yogi(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    *,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Yogi: Adam with an additive, sign-controlled second-moment update.

    .. math::

       m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       v_t = v_{t-1} - (1 - \beta_2)\, \mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2, \\
       u_t &= -\eta_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon),

    with :math:`v_0 = 10^{-6}` and bias-corrected :math:`\hat m_t, \hat v_t`:
    :math:`v_t` changes by at most :math:`(1 - \beta_2) g_t^2` per step, so it
    cannot collapse after a run of small gradients.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-3.
      mu_dtype: dtype of the first moment (tsx addition); None (default): the
        parameters' dtype.
      nu_dtype: dtype of the second moment (tsx addition); None (default): the
        parameters' dtype.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      lr_state)``.

    References:
      Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS
      2018.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.yogi(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_yogi(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )
