"""SGD with the stochastic Polyak step size (SPS).

Loizou et al. (2021), "Stochastic Polyak Step-size for SGD: An Adaptive
Learning Rate for Fast Convergence", AISTATS, arXiv:2002.10542; Berrada et
al. (2020), arXiv:1906.05661. The step size is

.. math::

   \\gamma_t = \\min\\left\\{\\frac{f(w_t) - f^\\star}
                               {\\|\\nabla f(w_t)\\|^2 + \\epsilon},
                 \\gamma_{\\max}\\right\\},

(zero when :math:`\\|\\nabla f\\|^2 + \\epsilon` is below machine epsilon).
The ``'sps+'`` variant (Garrigos et al., 2023, arXiv:2307.14528) uses the
positive part :math:`(f(w_t) - f^\\star)_+` of the gap.
"""


import jax
import jax.numpy as jnp
import numpy as np

from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    init_empty_state,
)
from tsx._combine import chain
from tsx.optimizers._sgd import sgd
from tsx.validation import (
    NON_NEGATIVE,
    choice,
    hyperparameters,
    real,
    schedule_or,
)

__all__ = ["polyak_sgd", "scale_by_polyak"]

_VARIANTS = ("sps", "sps+")
# Python float's machine epsilon, the guard Optax uses for a zero gradient.
_TINY = float(np.finfo(float).eps)


@hyperparameters(
    f_min=real(),
    max_learning_rate=NON_NEGATIVE,
    eps=NON_NEGATIVE,
    variant=choice("sps", "sps+"),
)
def scale_by_polyak(
    f_min: jax.typing.ArrayLike = 0.0,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
    """Multiply updates by the Polyak step size (positive sign).

    ``update(updates, state, params, *, value)`` needs the objective's
    ``value`` at the current parameters.

    Args:
      f_min: a lower bound :math:`f^\\star` on the objective.
      max_learning_rate: the cap :math:`\\gamma_{\\max}` on the step size.
      eps: added to the squared gradient norm in the denominator.
      variant: ``'sps'`` or ``'sps+'`` (positive part of the gap).
    """

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        sq_norm = tu.tree_norm(updates, squared=True)
        gap = jnp.array(value - f_min).astype(sq_norm.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0.0)
        denom = sq_norm + eps
        step = jnp.where(
            denom <= _TINY,
            jnp.array(0.0),
            jnp.minimum(gap / denom, max_learning_rate),
        )
        return tu.tree_scale(step, updates), state

    return GradientTransformationExtraArgs(init_empty_state, update_fn)


@hyperparameters(
    max_learning_rate=NON_NEGATIVE,
    scaling=schedule_or(NON_NEGATIVE),
    f_min=real(),
    eps=NON_NEGATIVE,
    variant=choice("sps", "sps+"),
)
def polyak_sgd(
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
    r"""SGD with the Polyak step size (SPS).

    .. math::

       \gamma_t = \min\left( \frac{f(\theta_t) - f^*}{\lVert g_t \rVert^2 + \epsilon},\;
                  \gamma_{max} \right), \qquad u_t = -s_t\, \gamma_t\, g_t,

    where :math:`f^*` is a lower bound of the objective; ``variant="sps+"``
    uses :math:`\max(f(\theta_t) - f^*, 0)`. ``update`` needs the objective at
    the current parameters: ``update(grads, state, params, value=f(params))``.

    Args:
      max_learning_rate: :math:`\gamma_{max}` >= 0, the largest step. Default 1.
      scaling: :math:`s_t` >= 0 (or a schedule), multiplies the step. Default 1.
      f_min: :math:`f^*`, a lower bound of the objective. Default 0.
      eps: :math:`\epsilon` >= 0, added to the squared gradient norm. Default 0.
      variant: ``"sps"`` or ``"sps+"``. Default ``"sps"``.

    Returns:
      A transformation with state ``((EmptyState(), lr_state), EmptyState())``
      (Optax's layout).

    References:
      Loizou et al., "Stochastic Polyak Step-size for SGD: An Adaptive Learning
      Rate for Fast Convergence", AISTATS 2021, arXiv:2002.10542.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)  # least value 0
      >>> tx = tsx.polyak_sgd(max_learning_rate=1.0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(5):
      ...     loss, grads = jax.value_and_grad(f)(params)
      ...     updates, state = tx.update(grads, state, params, value=loss)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0049
    """
    return chain(
        sgd(learning_rate=scaling),
        scale_by_polyak(
            max_learning_rate=max_learning_rate, f_min=f_min, eps=eps, variant=variant
        ),
    )
