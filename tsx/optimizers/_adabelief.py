"""AdaBelief: Adam with the variance of the gradient around its prediction.

Where Adam divides by the running mean of :math:`g_t^2`, AdaBelief divides by
the running mean of :math:`(g_t - m_t)^2`, the squared deviation of the
gradient from its exponential average (the "belief"):

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   s_t = \\beta_2 s_{t-1} + (1-\\beta_2)(g_t - m_t)^2 + \\bar\\epsilon,

   u_t = -\\alpha_t\\, \\hat m_t / (\\sqrt{\\hat s_t} + \\epsilon),

with the bias corrections :math:`\\hat m_t = m_t/(1-\\beta_1^t)`,
:math:`\\hat s_t = s_t/(1-\\beta_2^t)`. Zhuang et al. (2020), "AdaBelief
Optimizer: Adapting Stepsizes by the Belief in Observed Gradients",
arXiv:2010.07468. ``nesterov=True`` uses NAdam's look-ahead first moment.
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

__all__ = ["ScaleByBeliefState", "adabelief", "scale_by_belief"]


class ScaleByBeliefState(NamedTuple):
    """State of :func:`scale_by_belief`: count, mean and belief variance ``nu``."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def scale_by_belief(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """AdaBelief's rescaling ``m_hat / (sqrt(s_hat) + eps)`` (no learning rate).

    Args:
      b1: decay of the gradient average, in [0, 1).
      b2: decay of the average squared prediction error, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added to the second moment at every step (must be non-zero
        to differentiate through the optimizer).
      nesterov: use NAdam's look-ahead first moment.
      nu_dtype: tsx addition; dtype in which ``nu`` is stored (default: the
        params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByBeliefState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        surprise = tu.tree_sub(updates, mu)
        nu = tu.tree_update_moment_per_elem_norm(surprise, state.nu, b2, 2)
        nu = jax.tree.map(lambda v: v + eps_root, nu)
        count = numerics.safe_increment(state.count)
        if nesterov:
            ahead = tu.tree_bias_correction(mu, b1, numerics.safe_increment(count))
            now = tu.tree_bias_correction(updates, b1, count)
            mu_hat = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, ahead, now)
        else:
            mu_hat = tu.tree_bias_correction(mu, b1, count)
        nu_hat = tu.tree_bias_correction(nu, b2, count)
        new_updates = jax.tree.map(
            lambda m, v: None if m is None else m / (jnp.sqrt(v) + eps),
            mu_hat,
            nu_hat,
            is_leaf=lambda x: x is None,
        )
        return new_updates, ScaleByBeliefState(
            count=count, mu=mu, nu=tu.tree_cast(nu, nu_dtype)
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""AdaBelief: Adam whose second moment tracks the gradient's surprise.

    .. math::

       m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       s_t = \beta_2 s_{t-1} + (1 - \beta_2)\, (g_t - m_t)^2 + \epsilon_{root}, \\
       u_t &= -\eta_t\, \hat m_t / (\sqrt{\hat s_t} + \epsilon),

    with the bias corrections :math:`\hat m_t = m_t / (1 - \beta_1^t)` and
    :math:`\hat s_t = s_t / (1 - \beta_2^t)`: steps are large where the
    gradient is close to its running mean ("belief") and small where it is not.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of :math:`s_t`, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, added outside the square root. Default 1e-16
        (the paper uses 1e-8 with ``eps_root=0``).
      eps_root: :math:`\epsilon_{root}` >= 0, added to :math:`s_t`. Default
        1e-16.
      nesterov: use Nesterov momentum for :math:`\hat m_t`. Default False.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByBeliefState(count, mu, nu),
      lr_state)``.

    References:
      Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
      Observed Gradients", NeurIPS 2020, arXiv:2010.07468.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adabelief(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_belief(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            nesterov=nesterov,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
