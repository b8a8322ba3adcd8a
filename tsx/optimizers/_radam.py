"""Rectified Adam (RAdam).

Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and
Beyond", ICLR, arXiv:1908.03265. Early in training the second-moment
estimate rests on few samples and the adaptive step has a large variance.
With :math:`\\rho_\\infty = 2/(1-\\beta_2) - 1` and

.. math::

   \\rho_t = \\rho_\\infty - \\frac{2 t \\beta_2^t}{1-\\beta_2^t},

RAdam takes the plain momentum step :math:`\\hat m_t` while
:math:`\\rho_t` is below ``threshold``, and afterwards Adam's step multiplied
by the rectification

.. math::

   r_t = \\sqrt{\\frac{(\\rho_t-4)(\\rho_t-2)\\rho_\\infty}
                     {(\\rho_\\infty-4)(\\rho_\\infty-2)\\rho_t}}.
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
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["radam", "scale_by_radam"]


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    threshold=NON_NEGATIVE,
    nesterov=BOOL,
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def scale_by_radam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Rescale updates by Rectified Adam (no learning rate).

    State: :class:`~tsx.ScaleByAdamState` ``(count, mu, nu)``.

    Args:
      b1: decay of the first-moment average, in [0, 1).
      b2: decay of the second-moment average, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root.
      threshold: the rectified step is used once ``rho_t >= threshold``.
      nesterov: use the NAdam look-ahead first moment.
      mu_dtype: dtype of the first moment (tsx addition).
      nu_dtype: dtype of the second moment (tsx addition).
    """
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jnp.dtype(nu_dtype)
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params, dtype=mu_dtype),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = numerics.safe_increment(state.count)
        b2_t = b2**count
        rho = rho_inf - 2 * count * b2_t / (1 - b2_t)
        if nesterov:
            ahead = tu.tree_bias_correction(mu, b1, numerics.safe_increment(count))
            now = tu.tree_bias_correction(updates, b1, count)
            mu_hat = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, ahead, now)
        else:
            mu_hat = tu.tree_bias_correction(mu, b1, count)
        nu_hat = tu.tree_bias_correction(nu, b2, count)
        # Evaluated at every step (jnp.where picks afterwards); for small rho the
        # square root is NaN, but that branch is then discarded.
        rect = jnp.sqrt(
            (rho - 4.0)
            * (rho - 2.0)
            * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
        )
        new_updates = jax.tree.map(
            lambda m, v: jnp.where(
                rho >= threshold,
                rect.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps),
                m,
            ),
            mu_hat,
            nu_hat,
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
    eps_root=NON_NEGATIVE,
    threshold=NON_NEGATIVE,
    nesterov=BOOL,
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def radam(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Rectified Adam: Adam whose adaptive step is switched on and rectified.

    .. math::

       \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
       \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \\
       u_t &= -\eta_t \begin{cases}
         r_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
         & \rho_t > \tau, \\
         \hat m_t & \text{otherwise,}
       \end{cases} \qquad
       r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                    {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},

    with Adam's bias-corrected moments and :math:`\tau` = ``threshold``: early
    steps, whose second-moment estimate has high variance, are momentum SGD.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      threshold: :math:`\tau` >= 0. Default 5.
      nesterov: Nesterov momentum. Default False.
      mu_dtype: dtype of the first moment (tsx addition); None (default): the
        parameters' dtype.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      lr_state)``.

    References:
      Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond",
      ICLR 2020, arXiv:1908.03265.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.radam(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_radam(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            threshold=threshold,
            nesterov=nesterov,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
