"""Adagrad: per-coordinate steps scaled by the root of the summed squares.

Duchi et al. (2011), "Adaptive Subgradient Methods for Online Learning and
Stochastic Optimization", JMLR 12:

.. math::

   G_t = G_{t-1} + g_t^2, \\qquad
   u_t = -\\alpha_t\\, g_t / \\sqrt{G_t + \\epsilon},

with :math:`G_0` the ``initial_accumulator_value``. Coordinates whose
accumulator is still zero get a zero step. Because :math:`G_t` only grows,
the effective step size decays over training.
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
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["ScaleByRssState", "adagrad", "scale_by_rss"]


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared gradients."""

    sum_of_squares: Any


@hyperparameters(
    initial_accumulator_value=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    nu_dtype=DTYPE,
)
def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Divide updates by ``sqrt(sum of squared gradients + eps)``.

    Args:
      initial_accumulator_value: starting value of the sum, >= 0.
      eps: added under the square root.
      nu_dtype: tsx addition; dtype in which the sum is stored (default: the
        params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByRssState(
            sum_of_squares=tu.tree_full_like(
                params, initial_accumulator_value, dtype=nu_dtype
            )
        )

    def update_fn(updates, state, params=None):
        del params
        total = jax.tree.map(
            lambda g, s: numerics.abs_sq(g) + s, updates, state.sum_of_squares
        )
        inv_root = jax.tree.map(
            lambda s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0), total
        )
        return tu.tree_mul(inv_root, updates), ScaleByRssState(
            sum_of_squares=tu.tree_cast(total, nu_dtype)
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    initial_accumulator_value=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    nu_dtype=DTYPE,
)
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adagrad: steps divided by the root of the summed squared gradients.

    .. math::

       s_t = s_{t-1} + g_t^2, \qquad
       u_t = -\eta_t\, g_t / \sqrt{s_t + \epsilon},

    with :math:`s_0` = ``initial_accumulator_value``.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      initial_accumulator_value: :math:`s_0` >= 0. Default 0.1.
      eps: :math:`\epsilon` >= 0, inside the square root. Default 1e-7.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByRssState(sum_of_squares),
      lr_state)``.

    References:
      Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning
      and Stochastic Optimization", JMLR 12 (2011).

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adagrad(learning_rate=0.5)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_rss(
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
