"""MoMo and MoMo-Adam: model-based momentum with a Polyak-type adaptive step.

Schaipp, Ohana, Eickenberg, Defazio & Gower (2023), "MoMo: Momentum Models
for Adaptive Learning Rates", arXiv:2305.07583. MoMo averages the loss
:math:`\\bar f_k`, the gradient :math:`d_k` and :math:`\\gamma_k =
\\mathrm{avg}\\langle g, x\\rangle` with weight :math:`\\beta`, builds a model of
the loss bounded below by :math:`f_*` (``lower_bound``), and takes the largest
step not exceeding the learning rate :math:`\\alpha_k` that the model allows:

.. math::

   \\tau_k = \\min\\left(\\alpha_k,
     \\frac{\\left((1+\\alpha_k\\lambda)(\\bar f_k - f_* - \\gamma_k)
     + \\langle d_k, x_k\\rangle\\right)_+}{\\|d_k\\|^2}\\right), \\qquad
   x_{k+1} = \\frac{x_k - \\tau_k d_k}{1 + \\alpha_k\\lambda}.

MoMo-Adam uses Adam's moments, measures norms in the preconditioner
:math:`D_k = \\epsilon + \\sqrt{v_k / (1-\\beta_2^k)}` and bias-corrects with
:math:`\\rho_k = 1 - \\beta_1^k`. With ``adapt_lower_bound=True`` the bound
:math:`f_*` is re-estimated online (MoMo*). Both need the loss: pass
``value=loss`` to ``update``.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformationExtraArgs, ScalarOrSchedule
from tsx.validation import (
    BOOL,
    DECAY,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    real,
    require_params,
)

__all__ = ["MomoAdamState", "MomoState", "momo", "momo_adam"]

# Below this squared norm the model step is undefined and taken as zero.
_TINY = float(np.finfo(float).eps)


class MomoState(NamedTuple):
    """State of :func:`momo`.

    Attributes:
      exp_avg: :math:`d_k`, the gradient average.
      barf: :math:`\\bar f_k`, the loss average.
      gamma: :math:`\\gamma_k`, the average of :math:`\\langle g, x\\rangle`.
      lb: the current lower bound :math:`f_*`.
      count: steps taken (int32).
    """

    exp_avg: Any
    barf: jax.Array
    gamma: jax.Array
    lb: jax.Array
    count: jax.Array


class MomoAdamState(NamedTuple):
    """State of :func:`momo_adam`: :class:`MomoState` plus the second moment.

    Attributes:
      exp_avg: first moment of the gradients.
      exp_avg_sq: second moment of the gradients.
      barf: loss average.
      gamma: average of :math:`\\langle g, x\\rangle`.
      lb: the current lower bound.
      count: steps taken (int32).
    """

    exp_avg: Any
    exp_avg_sq: Any
    barf: jax.Array
    gamma: jax.Array
    lb: jax.Array
    count: jax.Array


def _check_call(params: Any, value: Any) -> None:
    require_params(params, "momo")
    if value is None:
        # A TypeError, as for a missing keyword argument (Optax's behaviour).
        raise TypeError(
            "momo needs the current loss: call update(g, state, params, "
            "value=loss), e.g. with loss, g = jax.value_and_grad(f)(params)."
        )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    beta=DECAY,
    lower_bound=real(),
    weight_decay=NON_NEGATIVE,
    adapt_lower_bound=BOOL,
)
def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: jax.typing.ArrayLike = 0.9,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo: momentum with a Polyak-type adaptive step from a model of the loss.

    .. math::

       \tau_k = \min\left( \alpha_k,
         \frac{\left( (1 + \alpha_k \lambda)(\bar f_k - f_* - \gamma_k)
         + \langle d_k, x_k \rangle \right)_+}{\lVert d_k \rVert^2} \right), \qquad
       x_{k+1} = \frac{x_k - \tau_k d_k}{1 + \alpha_k \lambda},

    with :math:`\bar f_k, d_k, \gamma_k` the :math:`\beta`-averages of the
    loss, the gradient and :math:`\langle g, x \rangle` (see the module
    documentation). ``update`` needs the loss:
    ``update(grads, state, params, value=loss)``.

    Args:
      learning_rate: :math:`\alpha_k` >= 0, the largest step (number or
        schedule). Default 1.
      beta: :math:`\beta`, the averaging weight, in [0, 1). Default 0.9.
      lower_bound: :math:`f_*`, a lower bound of the loss (0 for most losses).
        Default 0.
      weight_decay: :math:`\lambda` >= 0, applied implicitly (a proximal
        step). Default 0.
      adapt_lower_bound: re-estimate :math:`f_*` online (MoMo*). Default False.

    Returns:
      A transformation with state ``MomoState(exp_avg, barf, gamma, lb,
      count)``.

    References:
      Schaipp et al., "MoMo: Momentum Models for Adaptive Learning Rates", ICML
      2024, arXiv:2305.07583.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)  # least value 0
      >>> tx = tsx.contrib.momo(learning_rate=1.0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     loss, grads = jax.value_and_grad(f)(params)
      ...     updates, state = tx.update(grads, state, params, value=loss)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0016
    """

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        return MomoState(
            exp_avg=tu.tree_zeros_like(params),
            barf=jnp.zeros([], dtype=dtype),
            gamma=jnp.zeros([], dtype=dtype),
            lb=jnp.array(lower_bound, dtype=dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _check_call(params, value)
        # The first step initialises the averages with the first sample.
        b = jnp.where(state.count == 0, 0.0, beta)
        barf = b * state.barf + (1 - b) * jnp.asarray(value, dtype=state.barf.dtype)
        exp_avg = jax.tree.map(lambda d, g: b * d + (1 - b) * g, state.exp_avg, updates)
        gamma = b * state.gamma + (1 - b) * tu.tree_vdot(updates, params)
        d_norm_sq = tu.tree_norm(exp_avg, squared=True)
        d_dot_x = tu.tree_vdot(exp_avg, params)
        alpha = numerics.schedule_value(learning_rate, state.count, "learning rate")
        shrink = 1 + alpha * weight_decay
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + d_dot_x
            lb = jax.lax.cond(
                cap < shrink * state.lb,
                lambda: jnp.maximum(cap / (2 * shrink), lower_bound),
                lambda: state.lb,
            )
        else:
            lb = state.lb
        model_step = (
            jnp.maximum(shrink * (barf - lb - gamma) + d_dot_x, 0.0) / d_norm_sq
        )
        model_step = jnp.where(d_norm_sq <= _TINY, 0.0, model_step)
        tau = jnp.minimum(alpha, model_step)
        new_updates = jax.tree.map(
            lambda d, p: -(alpha * weight_decay) / shrink * p - tau * d, exp_avg, params
        )
        if adapt_lower_bound:
            new_lb = jnp.maximum(
                (barf + d_dot_x - gamma) - (1 / 2) * tau * d_norm_sq, lower_bound
            )
        else:
            new_lb = state.lb
        return new_updates, MomoState(
            exp_avg=exp_avg,
            barf=barf,
            gamma=gamma,
            lb=new_lb,
            count=numerics.safe_increment(state.count),
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    lower_bound=real(),
    weight_decay=NON_NEGATIVE,
    adapt_lower_bound=BOOL,
)
def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo-Adam: MoMo's adaptive step with Adam's moments and preconditioner.

    The step is MoMo's (see :func:`momo`) with norms measured in Adam's
    preconditioner :math:`D_k = \epsilon + \sqrt{v_k / (1 - \beta_2^k)}` and the
    first moment bias-corrected by :math:`1 - \beta_1^k`. ``update`` needs the
    loss: ``update(grads, state, params, value=loss)``.

    Args:
      learning_rate: :math:`\alpha_k` >= 0, the largest step (number or
        schedule). Default 0.01.
      b1: :math:`\beta_1`, decay of the first moment and of the loss and
        inner-product averages, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, added to the preconditioner. Default 1e-8.
      lower_bound: :math:`f_*`, a lower bound of the loss. Default 0.
      weight_decay: :math:`\lambda` >= 0, applied implicitly. Default 0.
      adapt_lower_bound: re-estimate :math:`f_*` online. Default False.

    Returns:
      A transformation with state ``MomoAdamState(exp_avg, exp_avg_sq, barf,
      gamma, lb, count)``.

    References:
      Schaipp et al., "MoMo: Momentum Models for Adaptive Learning Rates", ICML
      2024, arXiv:2305.07583.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)  # least value 0
      >>> tx = tsx.contrib.momo_adam(learning_rate=0.5)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     loss, grads = jax.value_and_grad(f)(params)
      ...     updates, state = tx.update(grads, state, params, value=loss)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0005
    """

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        return MomoAdamState(
            exp_avg=tu.tree_zeros_like(params),
            exp_avg_sq=tu.tree_zeros_like(params),
            barf=jnp.zeros([], dtype=dtype),
            gamma=jnp.zeros([], dtype=dtype),
            lb=jnp.array(lower_bound, dtype=dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _check_call(params, value)
        count = numerics.safe_increment(state.count)
        barf = b1 * state.barf + (1 - b1) * jnp.asarray(value, dtype=state.barf.dtype)
        exp_avg = jax.tree.map(
            lambda m, g: b1 * m + (1 - b1) * g, state.exp_avg, updates
        )
        exp_avg_sq = jax.tree.map(
            lambda v, g: b2 * v + (1 - b2) * g * g, state.exp_avg_sq, updates
        )
        bc2 = jnp.asarray(1 - b2**count, dtype=barf.dtype)
        precond = jax.tree.map(lambda v: eps + jnp.sqrt(v / bc2), exp_avg_sq)
        weighted = jax.tree.map(lambda m, d: m / d, exp_avg, precond)
        d_norm_sq = tu.tree_vdot(exp_avg, weighted)
        gamma = b1 * state.gamma + (1 - b1) * tu.tree_vdot(updates, params)
        d_dot_x = tu.tree_vdot(exp_avg, params)
        alpha = numerics.schedule_value(learning_rate, state.count, "learning rate")
        bc1 = jnp.asarray(1 - b1**count, dtype=barf.dtype)
        shrink = 1 + alpha * weight_decay
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + d_dot_x
            lb = jnp.where(
                cap < shrink * bc1 * state.lb,
                jnp.maximum(cap / (2 * bc1 * shrink), lower_bound),
                state.lb,
            )
        else:
            lb = state.lb
        model_step = (
            jnp.maximum(shrink * (barf - bc1 * lb - gamma) + d_dot_x, 0.0) / d_norm_sq
        )
        model_step = jnp.where(d_norm_sq <= _TINY, 0.0, model_step)
        tau = jnp.minimum(alpha / bc1, model_step)
        new_updates = jax.tree.map(
            lambda m, d, p: -(alpha * weight_decay) / shrink * p - tau * m / d,
            exp_avg,
            precond,
            params,
        )
        if adapt_lower_bound:
            new_lb = ((barf + d_dot_x - gamma) - (1 / 2) * tau * d_norm_sq) / bc1
            new_lb = jnp.maximum(new_lb, lower_bound)
        else:
            new_lb = state.lb
        return new_updates, MomoAdamState(
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            barf=barf,
            gamma=gamma,
            lb=new_lb,
            count=count,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
