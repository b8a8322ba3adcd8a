"""Optimistic gradient methods for min-max problems.

Optimistic gradient descent (Popov, 1980; in the generalised form analysed by
Mokhtari et al., 2019, arXiv:1901.08511) extrapolates with the previous
gradient,

.. math::

   u_t = (\\alpha + \\beta)\\, g_t - \\beta\\, g_{t-1}, \\qquad
   w_{t+1} = w_t - \\eta_t u_t,

which approximates the extra-gradient method with one gradient per step and
converges in the last iterate on bilinear games where plain gradient
descent-ascent cycles. At the first step :math:`g_{t-1} := g_t`.
Optimistic Adam (Daskalakis et al., 2018, "Training GANs with Optimism",
arXiv:1711.00141) applies the same extrapolation to Adam's step.
"""


import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    Updates,
)
from tsx._combine import chain
from tsx.optimizers._adam import scale_by_adam
from tsx.transforms import scale_by_learning_rate
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    optional,
    schedule_or,
)

# ScaleByOptimisticGradientState is importable from this module but, as in
# Optax, not exported at top level.
__all__ = [
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "scale_by_optimistic_gradient",
]


class ScaleByOptimisticGradientState(NamedTuple):
    """State of :func:`scale_by_optimistic_gradient`."""

    is_initial_step: jax.typing.ArrayLike  # bool scalar
    previous_gradient: Updates


@hyperparameters(
    alpha=schedule_or(NON_NEGATIVE),
    beta=schedule_or(NON_NEGATIVE),
)
def scale_by_optimistic_gradient(
    alpha: jax.typing.ArrayLike = 1.0, beta: jax.typing.ArrayLike = 1.0
) -> GradientTransformation:
    """Map ``g_t`` to ``(alpha + beta) g_t - beta g_{t-1}`` (no learning rate).

    Args:
      alpha: weight of the current gradient.
      beta: weight of the extrapolation (negative momentum) term.
    """

    def init_fn(params):
        return ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(True),
            previous_gradient=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params

        def one(g, prev):
            # No previous gradient at the first step: extrapolate from g itself.
            prev = jnp.where(state.is_initial_step, g, prev)
            return (alpha + beta) * g - beta * prev

        new_updates = jax.tree.map(one, updates, state.previous_gradient)
        return new_updates, ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(False), previous_gradient=updates
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    alpha=schedule_or(NON_NEGATIVE),
    beta=schedule_or(NON_NEGATIVE),
)
def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformationExtraArgs:
    r"""Optimistic gradient descent: a gradient step with an optimistic correction.

    .. math::

       u_t = -\eta_t \left( (\alpha + \beta)\, g_t - \beta\, g_{t-1} \right),

    with :math:`g_0 = 0`. On bilinear min-max games it converges where plain
    gradient descent-ascent cycles.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      alpha: :math:`\alpha` >= 0 (or a schedule), weight of the current
        gradient. Default 1.
      beta: :math:`\beta` >= 0 (or a schedule), weight of the correction.
        Default 1.

    Returns:
      A transformation with state ``(ScaleByOptimisticGradientState(
      is_initial_step, previous_gradient), lr_state)``.

    References:
      Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient and
      Optimistic Gradient Methods for Saddle Point Problems", AISTATS 2020,
      arXiv:1901.08511.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.optimistic_gradient_descent(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


@hyperparameters(
    learning_rate=NON_NEGATIVE,
    optimism=optional(NON_NEGATIVE),
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def optimistic_adam(
    learning_rate: jax.typing.ArrayLike,
    optimism: jax.typing.ArrayLike | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Optimistic Adam, first interface (deprecated; see :func:`optimistic_adam_v2`).

    Building it warns (``DeprecationWarning``).

    .. math::

       u_t = -\eta\, r_t - o\, (r_t - r_{t-1}),

    with :math:`r_t` Adam's (by default NAdam's) normalised step and
    :math:`o` = ``optimism``.

    Args:
      learning_rate: :math:`\eta` >= 0, a constant (not a schedule).
      optimism: :math:`o` >= 0; None (default): the learning rate.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      nesterov: Nesterov momentum in :math:`r_t`. Default True.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      ScaleByOptimisticGradientState(is_initial_step, previous_gradient),
      EmptyState())``.

    References:
      Daskalakis et al., "Training GANs with Optimism", ICLR 2018,
      arXiv:1711.00141.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.optimistic_adam(learning_rate=0.05)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    warnings.warn(
        "`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.",
        category=DeprecationWarning,
        stacklevel=2,
    )
    if optimism is None:
        optimism = learning_rate
    return chain(
        scale_by_adam(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            nu_dtype=nu_dtype,
        ),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),  # only flips the sign
    )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    alpha=NON_NEGATIVE,
    beta=NON_NEGATIVE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    nu_dtype=DTYPE,
)
def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: jax.typing.ArrayLike = 1.0,
    beta: jax.typing.ArrayLike = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    nesterov: bool = True,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Optimistic Adam: Adam's step with an optimistic correction.

    .. math::

       u_t = -\eta_t \left( (\alpha + \beta)\, r_t - \beta\, r_{t-1} \right),

    with :math:`r_t` Adam's (by default NAdam's) normalised step. Suited to
    min-max problems (GANs), where plain gradient steps cycle.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      alpha: :math:`\alpha` >= 0, weight of the current step. Default 1.
      beta: :math:`\beta` >= 0, weight of the correction. Default 1.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      nesterov: Nesterov momentum in :math:`r_t`. Default True.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      ScaleByOptimisticGradientState(is_initial_step, previous_gradient),
      lr_state)``.

    References:
      Daskalakis et al., "Training GANs with Optimism", ICLR 2018,
      arXiv:1711.00141.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.optimistic_adam_v2(learning_rate=0.05)
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
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            nu_dtype=nu_dtype,
        ),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )
