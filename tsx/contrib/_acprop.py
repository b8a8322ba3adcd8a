"""ACProp: AdaBelief's centred second moment with an asynchronous update.

Zhuang et al. (2021), "Momentum Centering and Asynchronous Update for Adaptive
Gradient Methods", arXiv:2110.05454. With :math:`m_t` the EMA of gradients and
:math:`s_t` the EMA of the squared *prediction error* :math:`g_t - m_{t-1}`,

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   s_t = \\beta_2 s_{t-1} + (1-\\beta_2)(g_t - m_{t-1})^2 + \\bar\\epsilon,

the step divides the *raw* gradient by the bias-corrected centred moment of the
previous step (asynchronous: numerator and denominator never share a sample),

.. math::

   u_t = -\\alpha_t\\, g_t / (\\sqrt{\\hat s_{t-1}} + \\epsilon), \\qquad
   \\hat s_{t-1} = s_{t-1} / (1 - \\beta_2^{t-1}),

with :math:`\\hat s_0 := 1` on the very first step (there is no past moment).
"""


from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation, Params, ScalarOrSchedule
from tsx._combine import chain
from tsx.optimizers import ScaleByBeliefState
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["acprop", "scale_by_acprop"]


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
)
def scale_by_acprop(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
) -> GradientTransformation:
    """Rescale updates as ACProp does (no learning rate); see :func:`acprop`.

    State: AdaBelief's ``ScaleByBeliefState(count, mu, nu)``, with ``nu`` the
    centred second moment (``eps_root`` included).

    Args:
      b1: decay of the gradient EMA, in [0, 1).
      b2: decay of the centred second moment, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added to the centred second moment at every step (must be
        positive when differentiating through the optimizer).
    """

    def init_fn(params):
        return ScaleByBeliefState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params),
            nu=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        # The prediction error is measured against the *previous* mean.
        error = jax.tree.map(lambda g, m: g - m, updates, state.mu)
        nu = tu.tree_update_moment_per_elem_norm(error, state.nu, b2, 2)
        nu = jax.tree.map(lambda v: v + eps_root, nu)
        count = numerics.safe_increment(state.count)
        # Asynchronous: the denominator uses the moment of the previous step,
        # which does not exist on the first step (there it is taken as 1).
        first = state.count == 0
        t = jnp.where(first, count, state.count)
        nu_prev = tu.tree_bias_correction(state.nu, b2, t)
        nu_prev = jax.tree.map(lambda v: jnp.where(first, 1, v), nu_prev)
        new_updates = jax.tree.map(
            lambda g, v: g / (jnp.sqrt(v) + eps), updates, nu_prev
        )
        return new_updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def acprop(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    r"""ACProp: AdaBelief's centred second moment, used one step late.

    .. math::

       u_t = -\eta_t \left( g_t / (\sqrt{\hat s_{t-1}} + \epsilon)
              + \lambda\, \theta_t \right),

    with :math:`\hat s_{t-1}` the bias-corrected EMA of the squared prediction
    error :math:`(g - m)^2` from the previous step (:math:`\hat s_0 := 1`); see
    the module documentation. The decay is coupled to the learning rate, as in
    PyTorch's implementation.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the gradient EMA :math:`m_t`, in [0, 1).
        Default 0.9.
      b2: :math:`\beta_2`, decay of the centred second moment, in [0, 1).
        Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-16.
      eps_root: :math:`\bar\epsilon` >= 0, added to :math:`s_t`. Default 1e-16.
      weight_decay: :math:`\lambda` >= 0. Default 0.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.

    Returns:
      A transformation with state ``(ScaleByBeliefState(count, mu, nu),
      decay_state, lr_state)``.

    References:
      Zhuang et al., "Momentum Centering and Asynchronous Update for Adaptive
      Gradient Methods", NeurIPS 2021, arXiv:2110.05454.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.acprop(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
