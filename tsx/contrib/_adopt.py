"""ADOPT: Adam whose momentum averages *already normalised* gradients.

Taniguchi et al. (2024), "ADOPT: Modified Adam Can Converge with Any
:math:`\\beta_2` with the Optimal Rate", arXiv:2411.02853. Adam's possible
divergence comes from the correlation between :math:`g_t` and :math:`v_t`;
ADOPT removes it by normalising with the *previous* second moment and doing so
before the momentum:

.. math::

   v_0 = g_0^2, \\qquad
   m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\,
         \\mathrm{clip}\\!\\left(\\frac{g_t}{\\max(\\sqrt{v_{t-1}}, \\epsilon)},
         c_t\\right), \\qquad
   v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2,

and :math:`u_t = -\\alpha_t m_t`. The first step only initialises
:math:`v_0` (its update is zero). The clip bound :math:`c_t = t^{1/4}`
(``clip_value_fn``) stabilises early steps; ``nesterov=True`` takes one more
momentum step with the same normalised gradient.
"""


from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers import ScaleByAdamState
from tsx.transforms import scale_by_learning_rate
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    FUNCTION,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["adopt", "scale_by_adopt"]


def _quarter_power(count: jax.Array) -> jax.Array:
    return count**0.25


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    use_clipping=BOOL,
    clip_value_fn=FUNCTION,
    nu_dtype=DTYPE,
)
def scale_by_adopt(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Rescale updates as ADOPT does (no learning rate); see :func:`adopt`.

    Args:
      b1: decay of the momentum of normalised gradients, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      eps: lower bound of ``sqrt(v)`` in the normalisation.
      mu_dtype: dtype of the momentum (default: the parameters').
      nesterov: take one more momentum step (Nesterov look-ahead).
      use_clipping: clip the normalised gradient to ``[-c_t, c_t]``.
      clip_value_fn: ``c_t`` as a function of the step count.
      nu_dtype: dtype of the second moment (tsx addition; default: the
        parameters', as in Optax).

    State: ``ScaleByAdamState(count, mu, nu)``.
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
        started = state.count > 0
        # Step 0 sets v_0 = g_0^2 (decay 0) and leaves the momentum at zero
        # (decay 1), so its update is zero.
        b2_t = jnp.where(started, b2, 0)
        b1_t = jnp.where(started, b1, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, b2_t, 2)

        def normalise(g, v):
            scaled = g / jnp.maximum(jnp.sqrt(v), eps)
            if use_clipping:
                bound = clip_value_fn(state.count)
                scaled = jnp.clip(scaled, -bound, bound)
            return scaled

        normalised = jax.tree.map(normalise, updates, state.nu)
        mu = tu.tree_update_moment(normalised, state.mu, b1_t, 1)
        count = numerics.safe_increment(state.count)
        if nesterov:
            new_updates = tu.tree_update_moment(normalised, mu, b1_t, 1)
        else:
            new_updates = mu
        return new_updates, ScaleByAdamState(
            count=count,
            # Both moments keep their initial dtypes (mu_dtype / nu_dtype).
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
    nesterov=BOOL,
    use_clipping=BOOL,
    clip_value_fn=FUNCTION,
    nu_dtype=DTYPE,
)
def adopt(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""ADOPT: Adam whose momentum averages pre-normalised gradients.

    Each gradient is divided by the previous second moment before it enters
    the momentum:

    .. math::

       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\,
             \mathrm{clip}\!\left( g_t / \max(\sqrt{v_{t-1}}, \epsilon),\; c_t \right),
       \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
       u_t = -\eta_t\, m_t,

    with :math:`v_0 = g_0^2` (the first step only initialises it and returns
    zero) and :math:`c_t` = ``clip_value_fn(t)``.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the momentum, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.9999.
      eps: :math:`\epsilon` >= 0, lower bound of the normaliser. Default 1e-6.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      nesterov: take one more momentum step with the same normalised gradient.
        Default False.
      use_clipping: clip the normalised gradient at :math:`c_t`. Default True.
      clip_value_fn: :math:`c_t` as a function of the step count. Default
        :math:`t^{1/4}`.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdamState(count, mu, nu),
      lr_state)``.

    References:
      Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any beta_2 with
      the Optimal Rate", NeurIPS 2024, arXiv:2411.02853.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.adopt(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0001
    """
    return chain(
        scale_by_adopt(
            b1=b1,
            b2=b2,
            eps=eps,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
