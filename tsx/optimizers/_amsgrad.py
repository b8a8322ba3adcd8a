"""AMSGrad: Adam with a non-decreasing second moment.

Reddi et al. (2018), "On the Convergence of Adam and Beyond", ICLR. Adam can
fail to converge because its second moment may shrink; AMSGrad divides by
the running maximum of it instead:

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2,

   \\hat v^{max}_t = \\max(\\hat v^{max}_{t-1}, \\hat v_t), \\qquad
   u_t = -\\alpha_t\\, \\hat m_t / (\\sqrt{\\hat v^{max}_t + \\bar\\epsilon}
   + \\epsilon).

The hats denote Adam's bias corrections; either can be switched off
(``bias_correction_mu``/``bias_correction_nu``), as in the paper.
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
from tsx.transforms import scale_by_learning_rate
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["ScaleByAmsgradState", "amsgrad", "scale_by_amsgrad"]


class ScaleByAmsgradState(NamedTuple):
    """State of :func:`scale_by_amsgrad`: count, moments and the running max."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any
    nu_max: Any


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    bias_correction_mu=BOOL,
    bias_correction_nu=BOOL,
    nu_dtype=DTYPE,
)
def scale_by_amsgrad(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """AMSGrad's rescaling ``m_hat / (sqrt(nu_max + eps_root) + eps)``.

    Args:
      b1: decay of the first moment, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root.
      mu_dtype: dtype of the first moment (default: the params').
      bias_correction_mu: bias-correct the first moment.
      bias_correction_nu: bias-correct the second moment before the maximum.
      nu_dtype: tsx addition; dtype in which ``nu`` and ``nu_max`` are stored
        (default: the params').
    """
    mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params, dtype=mu_dtype),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
            nu_max=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = numerics.safe_increment(state.count)
        mu_hat = tu.tree_bias_correction(mu, b1, count) if bias_correction_mu else mu
        nu_eff = tu.tree_bias_correction(nu, b2, count) if bias_correction_nu else nu
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu_eff)
        new_updates = jax.tree.map(
            lambda m, v: None if m is None else m / (jnp.sqrt(v + eps_root) + eps),
            mu_hat,
            nu_max,
            is_leaf=lambda x: x is None,
        )
        return new_updates, ScaleByAmsgradState(
            count=count,
            mu=tu.tree_cast(mu, mu_dtype),
            nu=tu.tree_cast(nu, nu_dtype),
            nu_max=tu.tree_cast(nu_max, nu_dtype),
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    bias_correction_mu=BOOL,
    bias_correction_nu=BOOL,
    nu_dtype=DTYPE,
)
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""AMSGrad: Adam with a non-decreasing second moment.

    .. math::

       m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
       \hat v^{max}_t &= \max(\hat v^{max}_{t-1}, \hat v_t), \qquad
       u_t = -\eta_t\, \hat m_t / (\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon),

    with Adam's bias corrections (each switchable).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      bias_correction_mu: divide :math:`m_t` by :math:`1 - \beta_1^t`.
        Default True.
      bias_correction_nu: divide :math:`v_t` by :math:`1 - \beta_2^t`.
        Default True.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAmsgradState(count, mu, nu,
      nu_max), lr_state)``.

    References:
      Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.amsgrad(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_amsgrad(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
