"""Adam and its variants: AdamW, NAdam and NAdamW.

Adam (Kingma & Ba, 2015, arXiv:1412.6980) keeps exponential moving averages
of the gradient and of its square,

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2,

and steps along :math:`\\hat m_t / (\\sqrt{\\hat v_t + \\epsilon_{root}} +
\\epsilon)` with the bias-corrected :math:`\\hat m_t = m_t / (1-\\beta_1^t)`,
:math:`\\hat v_t = v_t / (1-\\beta_2^t)`. With ``nesterov=True`` the first
moment looks one step ahead (NAdam, Dozat 2016):
:math:`\\hat m_t = \\beta_1 m_t / (1-\\beta_1^{t+1})
+ (1-\\beta_1) g_t / (1-\\beta_1^t)`.
AdamW (Loshchilov & Hutter, 2019, arXiv:1711.05101) adds
``weight_decay * params`` after the scaling and before the learning rate.
"""


import functools
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
from tsx.transforms import MaskOrFn, add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    schedule_or,
)

__all__ = ["ScaleByAdamState", "adam", "adamw", "nadam", "nadamw", "scale_by_adam"]


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and the two moments."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Rescale updates by Adam's bias-corrected moments (no learning rate).

    Args:
      b1: decay of the first-moment average, in [0, 1).
      b2: decay of the second-moment average, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root (keeps its gradient finite when
        differentiating through the optimizer).
      mu_dtype: dtype of the first moment (default: the parameters').
      nesterov: use the NAdam look-ahead first moment.
      nu_dtype: dtype of the second moment (default: the parameters'). tsx
        addition: with bfloat16 params, ``nu_dtype=jnp.float32`` keeps the
        second moment in full precision.
    """
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jnp.dtype(nu_dtype)

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
        if nesterov:
            ahead = tu.tree_bias_correction(mu, b1, numerics.safe_increment(count))
            now = tu.tree_bias_correction(updates, b1, count)
            mu_hat = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, ahead, now)
        else:
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
            mu=tu.tree_cast(mu, mu_dtype),
            nu=tu.tree_cast_like(nu, state.nu),
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def adam(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adam: per-coordinate steps from bias-corrected moment estimates.

    .. math::

       m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
       \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t), \\
       u_t &= -\eta_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon).

    With ``nesterov=True`` (NAdam), :math:`\hat m_t` is replaced by
    :math:`\beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)`.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, added outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, added inside the square root
        (keeps the gradient of the update finite when differentiating through
        it, as in meta-learning). Default 0.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      nesterov: use Nesterov momentum (NAdam, Dozat 2016). Default False.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      lr_state)``: the step count and the two moments, shaped like the params.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      arXiv:1412.6980.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adam(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    weight_decay=schedule_or(NON_NEGATIVE),
    mask=MASK,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::

       u_t = -\eta_t \left( \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
             + \lambda\, \theta_t \right),

    with :math:`\hat m_t, \hat v_t` Adam's bias-corrected moments (see
    :func:`adam`). The decay :math:`\lambda \theta_t` is added after Adam's
    rescaling (decoupled) and, as in PyTorch and Optax, multiplied by the
    learning rate.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, added outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, added inside the square root.
        Default 0.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 1e-4.
      mask: which parameters decay: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      nesterov: use Nesterov momentum (NAdamW). Default False.
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
      >>> tx = tsx.adamw(learning_rate=0.1, weight_decay=1e-4)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


nadam = functools.partial(adam, nesterov=True)
nadam.__doc__ = r"""NAdam: :func:`adam` with Nesterov momentum (``nesterov=True``).

.. math::

   u_t = -\eta_t\, \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
                       + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
                       {\sqrt{\hat v_t + \epsilon_{root}} + \epsilon},

with Adam's moments :math:`m_t` and :math:`\hat v_t`.

Args:
  learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
    ``step -> value``.
  b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
  b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
  eps: :math:`\epsilon` >= 0, added outside the square root. Default 1e-8.
  eps_root: :math:`\epsilon_{root}` >= 0, added inside the square root.
    Default 0.
  mu_dtype: dtype of the first-moment state; None (default): the
    parameters' dtype.
  nesterov: True (pass False for plain Adam).
  nu_dtype: dtype of the second-moment state (tsx addition);
    None (default): the parameters' dtype, as in Optax.

Returns:
  A transformation with state ``(ScaleByAdamState(count, mu, nu),
  lr_state)``.

References:
  Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

Example:
  >>> import jax, jax.numpy as jnp, tsx
  >>> target = jnp.array([1.0, -2.0])
  >>> f = lambda p: jnp.sum((p - target) ** 2)
  >>> tx = tsx.nadam(learning_rate=0.1)
  >>> params = jnp.zeros(2)
  >>> state = tx.init(params)
  >>> for _ in range(100):
  ...     updates, state = tx.update(jax.grad(f)(params), state, params)
  ...     params = tsx.apply_updates(params, updates)
  >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
  loss 5.00 -> 0.0000
"""
nadamw = functools.partial(adamw, nesterov=True)
nadamw.__doc__ = r"""NAdamW: :func:`adamw` with Nesterov momentum (``nesterov=True``).

.. math::

   u_t = -\eta_t \left( \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
                       + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
                       {\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}
                    + \lambda\, \theta_t \right).

Args:
  learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
    ``step -> value``.
  b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
  b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
  eps: :math:`\epsilon` >= 0, added outside the square root. Default 1e-8.
  eps_root: :math:`\epsilon_{root}` >= 0, added inside the square root.
    Default 0.
  mu_dtype: dtype of the first-moment state; None (default): the
    parameters' dtype.
  weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 1e-4.
  mask: which parameters decay: a tree of booleans shaped like the
    params, or a function ``params -> tree``; None (default): all.
  nesterov: True (pass False for plain AdamW).
  nu_dtype: dtype of the second-moment state (tsx addition);
    None (default): the parameters' dtype, as in Optax.

Returns:
  A transformation with state ``(ScaleByAdamState(count, mu, nu),
  decay_state, lr_state)``.

References:
  Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop;
  Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

Example:
  >>> import jax, jax.numpy as jnp, tsx
  >>> target = jnp.array([1.0, -2.0])
  >>> f = lambda p: jnp.sum((p - target) ** 2)
  >>> tx = tsx.nadamw(learning_rate=0.1, weight_decay=1e-4)
  >>> params = jnp.zeros(2)
  >>> state = tx.init(params)
  >>> for _ in range(100):
  ...     updates, state = tx.update(jax.grad(f)(params), state, params)
  ...     params = tsx.apply_updates(params, updates)
  >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
  loss 5.00 -> 0.0000
"""
