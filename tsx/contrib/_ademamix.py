"""AdEMAMix and Simplified AdEMAMix: Adam with a second, slow momentum.

AdEMAMix (Pagliardini, Ablin & Grangier, 2024, "The AdEMAMix Optimizer:
Better, Faster, Older", arXiv:2409.03137) mixes a fast EMA :math:`m_1` (decay
:math:`\\beta_1`, bias-corrected) with a slow one :math:`m_2` (decay
:math:`\\beta_3`, deliberately *not* bias-corrected so that it fills slowly):

.. math::

   u_t = -\\eta_t \\left(\\frac{\\hat m_{1,t} + \\alpha\\, m_{2,t}}
   {\\sqrt{\\hat\\nu_t + \\bar\\epsilon} + \\epsilon} + \\lambda \\theta_{t-1}\\right),

where :math:`\\hat\\nu_t` is Adam's bias-corrected second moment (decay
:math:`\\beta_2`). :math:`\\beta_3` and :math:`\\alpha` may be schedules.

Simplified AdEMAMix (Morwani et al., 2025, "Connections between Schedule-Free
Optimizers, AdEMAMix, and Accelerated SGD Variants", arXiv:2502.02431) keeps a
single *undamped* accumulator :math:`m_t = \\beta_1 m_{t-1} + g_t` and adds the
current gradient with weight :math:`\\alpha`:
:math:`u_t = -\\eta_t ((m_t + \\alpha g_t) / (\\sqrt{\\hat\\nu_t + \\bar\\epsilon}
+ \\epsilon) + \\lambda\\theta_{t-1})`.
"""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import GradientTransformation, Params, ScalarOrSchedule
from tsx._combine import chain
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    hyperparameters,
    schedule_or,
)

__all__ = [
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ademamix",
    "scale_by_ademamix",
    "scale_by_simplified_ademamix",
    "simplified_ademamix",
]


class ScaleByAdemamixState(NamedTuple):
    """State of :func:`scale_by_ademamix`.

    Attributes:
      count: steps taken, for the fast EMA and the second moment (int32).
      count_m2: steps taken, for the slow EMA and the ``b3``/``alpha``
        schedules (int32).
      m1: fast EMA of the gradients.
      m2: slow EMA of the gradients.
      nu: EMA of the squared gradients.
    """

    count: jax.Array
    count_m2: jax.Array
    m1: Any
    m2: Any
    nu: Any


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """State of :func:`scale_by_simplified_ademamix`.

    Attributes:
      t: steps taken (int32).
      m: undamped gradient accumulator ``m_t = b1 m_{t-1} + g_t``.
      n: EMA of the squared gradients.
    """

    t: jax.Array
    m: Any
    n: Any


def _value_at(value: Any, step: jax.Array) -> Any:
    return numerics.schedule_value(value, step)


def _dtype_or_none(dtype: Any | None) -> Any | None:
    return None if dtype is None else jnp.dtype(dtype)


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    b3=schedule_or(DECAY),
    alpha=schedule_or(NON_NEGATIVE),
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nu_dtype=DTYPE,
)
def scale_by_ademamix(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Rescale updates by AdEMAMix's moment mixture (no learning rate).

    Args:
      b1: decay of the fast EMA, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      b3: decay of the slow EMA, in [0, 1), or a schedule of the step count.
      alpha: weight of the slow EMA (>= 0), or a schedule of the step count.
      eps: added to the denominator outside the square root.
      eps_root: added to the second moment inside the square root.
      mu_dtype: dtype of both EMAs (default: the parameters').
      nu_dtype: dtype of the second moment. tsx addition; default ``None``
        stores it in ``mu_dtype`` as Optax does.

    Unlike Optax, every moment is cast back to its initial dtype after each
    update, so a reduced-precision state stays reduced (Optax lets float32
    gradients promote a bfloat16 state after the first step).
    """
    mu_dtype = _dtype_or_none(mu_dtype)
    nu_dtype = mu_dtype if nu_dtype is None else jnp.dtype(nu_dtype)

    def init_fn(params):
        return ScaleByAdemamixState(
            count=jnp.zeros([], jnp.int32),
            count_m2=jnp.zeros([], jnp.int32),
            m1=tu.tree_zeros_like(params, dtype=mu_dtype),
            m2=tu.tree_zeros_like(params, dtype=mu_dtype),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        b3_t = _value_at(b3, state.count_m2)
        alpha_t = _value_at(alpha, state.count_m2)
        m1 = tu.tree_update_moment(updates, state.m1, b1, 1)
        m2 = tu.tree_update_moment(updates, state.m2, b3_t, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = numerics.safe_int32_increment(state.count)
        count_m2 = numerics.safe_int32_increment(state.count_m2)
        m1_hat = tu.tree_bias_correction(m1, b1, count)
        # The slow EMA is used raw: bias-correcting it would defeat its purpose
        # of starting small and building up over ~1/(1 - b3) steps.
        nu_hat = tu.tree_bias_correction(nu, b2, count)
        new_updates = jax.tree.map(
            lambda fast, slow, v: (
                (fast + alpha_t * slow) / (jnp.sqrt(v + eps_root) + eps)
            ),
            m1_hat,
            m2,
            nu_hat,
        )
        return new_updates, ScaleByAdemamixState(
            count=count,
            count_m2=count_m2,
            m1=tu.tree_cast_like(m1, state.m1),
            m2=tu.tree_cast_like(m2, state.m2),
            nu=tu.tree_cast_like(nu, state.nu),
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    b3=schedule_or(DECAY),
    alpha=schedule_or(NON_NEGATIVE),
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    mu_dtype=DTYPE,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
    nu_dtype=DTYPE,
)
def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdEMAMix: Adam with a second, slow momentum added to the fast one.

    .. math::

       u_t = -\eta_t \left( \frac{\hat m_{1,t} + \alpha\, m_{2,t}}
             {\sqrt{\hat\nu_t + \bar\epsilon} + \epsilon} + \lambda\, \theta_t \right),

    with :math:`\hat m_1` Adam's bias-corrected first moment (decay
    :math:`\beta_1`), :math:`m_2` an EMA of gradients with decay :math:`\beta_3`
    (not bias-corrected) and :math:`\hat\nu` Adam's second moment. A small
    :math:`\beta_3` (0.999) suits short runs; long memories adapt slowly to
    distribution shifts, so :math:`\alpha` and :math:`\beta_3` are often
    warmed up with schedules.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the fast momentum, in [0, 1). Default 0.9.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.999.
      b3: :math:`\beta_3`, decay of the slow momentum, in [0, 1), or a schedule.
        Default 0.9999.
      alpha: :math:`\alpha` >= 0 (or a schedule), weight of the slow momentum.
        Default 5.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\bar\epsilon` >= 0, inside the square root. Default 0.
      mu_dtype: dtype of both momenta; None (default): the parameters'.
      weight_decay: :math:`\lambda` >= 0. Default 0.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByAdemamixState(count, count_m2, m1,
      m2, nu), decay_state, lr_state)``.

    References:
      Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster,
      Older", 2024, arXiv:2409.03137.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.ademamix(learning_rate=0.1, b3=0.99, alpha=2.0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0004
    """
    return chain(
        scale_by_ademamix(
            b1=b1,
            b2=b2,
            b3=b3,
            alpha=alpha,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    alpha=schedule_or(NON_NEGATIVE),
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
)
def scale_by_simplified_ademamix(
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    """Rescale updates as Simplified AdEMAMix does (no learning rate).

    Args:
      b1: decay of the undamped accumulator ``m = b1 m + g``, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      alpha: weight of the current gradient (>= 0), or a schedule.
      eps: added to the denominator outside the square root.
      eps_root: added to the second moment inside the square root.
    """

    def init_fn(params):
        return ScaleBySimplifiedAdEMAMixState(
            t=jnp.array(0, jnp.int32),
            m=tu.tree_zeros_like(params),
            n=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        alpha_t = _value_at(alpha, state.t)
        m = jax.tree.map(lambda g, m_: g + b1 * m_, updates, state.m)
        # n = g^2 + b2 (n - g^2): the EMA written as an interpolation.
        n = jax.tree.map(lambda g, n_: g * g + b2 * (n_ - g * g), updates, state.n)
        t = numerics.safe_increment(state.t)
        n_hat = tu.tree_bias_correction(n, b2, t)
        new_updates = jax.tree.map(
            lambda m_, g, v: (m_ + alpha_t * g) / (jnp.sqrt(v + eps_root) + eps),
            m,
            updates,
            n_hat,
        )
        return new_updates, ScaleBySimplifiedAdEMAMixState(t=t, m=m, n=n)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    alpha=schedule_or(NON_NEGATIVE),
    eps=NON_NEGATIVE,
    eps_root=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    mask=MASK,
)
def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: an undamped momentum plus the current gradient.

    .. math::

       m_t = \beta_1 m_{t-1} + g_t, \qquad
       u_t = -\eta_t \left( \frac{m_t + \alpha\, g_t}
                            {\sqrt{\hat n_t + \bar\epsilon} + \epsilon}
             + \lambda\, \theta_t \right),

    with :math:`\hat n_t` Adam's bias-corrected second moment (decay
    :math:`\beta_2`). As :math:`m_t` sums about :math:`1 / (1 - \beta_1)`
    gradients, the learning rate is correspondingly smaller than Adam's;
    ``alpha=0`` is Adam up to that rescaling.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the accumulator, in [0, 1). Default 0.99.
      b2: :math:`\beta_2`, decay of the second moment, in [0, 1). Default 0.95.
      alpha: :math:`\alpha` >= 0 (or a schedule), weight of the current
        gradient. Default 0.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      eps_root: :math:`\bar\epsilon` >= 0, inside the square root. Default 0.
      weight_decay: :math:`\lambda` >= 0. Default 0.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.

    Returns:
      A transformation with state ``(ScaleBySimplifiedAdEMAMixState(t, m, n),
      decay_state, lr_state)``.

    References:
      Morwani et al., "Connections between Schedule-Free Optimizers, AdEMAMix,
      and Accelerated SGD Variants", 2025, arXiv:2502.02431.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.simplified_ademamix(learning_rate=0.01, b1=0.9)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0006
    """
    return chain(
        scale_by_simplified_ademamix(
            b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
