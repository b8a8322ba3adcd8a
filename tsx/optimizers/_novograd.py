"""NovoGrad: Adam-like steps with a layer-wise second moment.

Ginsburg et al. (2019), "Stochastic Gradient Methods with Layer-wise
Adaptive Moments for Training of Deep Networks", arXiv:1905.11286. The
second moment is one scalar per layer (the squared gradient norm), and the
gradient is normalised by it *before* momentum:

.. math::

   v_1 = \\|g_1\\|^2, \\qquad v_t = \\beta_2 v_{t-1} + (1-\\beta_2)\\|g_t\\|^2,

   m_1 = \\frac{g_1}{\\sqrt{v_1 + \\bar\\epsilon} + \\epsilon} + \\lambda
   \\theta_1, \\qquad
   m_t = \\beta_1 m_{t-1} + \\frac{g_t}{\\sqrt{v_t + \\bar\\epsilon} +
   \\epsilon} + \\lambda\\theta_t,

and the update is :math:`-\\alpha_t m_t`. Storing one scalar per layer halves
Adam's memory.
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
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    require_params,
    schedule_or,
)

__all__ = ["ScaleByNovogradState", "novograd", "scale_by_novograd"]


class ScaleByNovogradState(NamedTuple):
    """State of :func:`scale_by_novograd`: count, momentum, per-layer ``nu``."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any  # one scalar per leaf


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    weight_decay=schedule_or(NON_NEGATIVE),
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def scale_by_novograd(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """NovoGrad's momentum of layer-normalised gradients (no learning rate).

    Args:
      b1: momentum factor, in [0, 1).
      b2: decay of the per-layer squared gradient norm, in [0, 1).
      eps: added to the denominator outside the square root.
      eps_root: added inside the square root.
      weight_decay: coefficient of ``params`` added inside the momentum.
      mu_dtype: dtype of the momentum (default: the params').
      nu_dtype: tsx addition; dtype of the per-layer second moments (default:
        the params').
    """
    mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def init_fn(params):
        return ScaleByNovogradState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params, dtype=mu_dtype),
            nu=jax.tree.map(
                lambda p: jnp.asarray(
                    0.0, dtype=p.dtype if nu_dtype is None else nu_dtype
                ),
                params,
            ),
        )

    def sq_norm(g):
        return jnp.linalg.norm(g) ** 2

    def normalised(g, p, v):
        return g / (jnp.sqrt(v + eps_root) + eps) + weight_decay * p

    def first_nu(grads, nu):
        return jax.tree.map(lambda g, v: sq_norm(g).astype(v.dtype), grads, nu)

    def later_nu(grads, nu):
        return tu.tree_update_moment(jax.tree.map(sq_norm, grads), nu, b2, 1)

    def first_mu(grads, params, mu, nu):
        del mu
        return jax.tree.map(normalised, grads, params, nu)

    def later_mu(grads, params, mu, nu):
        steps = jax.tree.map(normalised, grads, params, nu)
        return jax.tree.map(
            lambda m, s: None if m is None else b1 * m + s,
            mu,
            steps,
            is_leaf=lambda x: x is None,
        )

    def update_fn(updates, state, params=None):
        require_params(params, "scale_by_novograd")
        count = numerics.safe_increment(state.count)
        # The first step initialises the averages with the first gradient.
        is_first = count == 1
        nu = jax.lax.cond(is_first, first_nu, later_nu, updates, state.nu)
        mu = jax.lax.cond(is_first, first_mu, later_mu, updates, params, state.mu, nu)
        if mu_dtype is not None:
            mu = tu.tree_cast(mu, mu_dtype)
        elif nu_dtype is not None:
            # A wider nu would otherwise promote mu away from its init dtype.
            mu = tu.tree_cast_like(mu, state.mu)
        return mu, ScaleByNovogradState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    weight_decay=schedule_or(NON_NEGATIVE),
    nu_dtype=DTYPE,
)
def novograd(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""NovoGrad: Adam-like steps with a per-layer second moment.

    Per parameter block (layer) :math:`l`:

    .. math::

       v^l_t &= \beta_2 v^l_{t-1} + (1 - \beta_2)\, \lVert g^l_t \rVert^2, \\
       m^l_t &= \beta_1 m^l_{t-1}
          + \left( \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}} + \epsilon}
                + \lambda\, \theta^l_t \right), \qquad
       u^l_t = -\eta_t\, m^l_t,

    with :math:`v^l_1 = \lVert g^l_1 \rVert^2` and
    :math:`m^l_1 = g^l_1 / (\sqrt{v^l_1} + \epsilon) + \lambda \theta^l_1`.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the first moment, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the layer-wise second moment, in [0, 1).
        Default 0.25.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-6.
      eps_root: :math:`\epsilon_{root}` >= 0, inside the square root. Default 0.
      weight_decay: :math:`\lambda` >= 0 (or a schedule). Default 0.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByNovogradState(count, mu, nu),
      lr_state)``.

    References:
      Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive
      Moments for Training of Deep Networks", 2019, arXiv:1905.11286.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.novograd(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0022
    """
    return chain(
        scale_by_novograd(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            weight_decay=weight_decay,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
