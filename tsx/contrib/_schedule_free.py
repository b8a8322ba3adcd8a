"""Schedule-Free optimization: averaging that replaces the learning-rate schedule.

Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), "The Road Less
Scheduled", arXiv:2405.15682. The base optimizer steps a sequence :math:`z`;
the evaluation point :math:`x` is a weighted running average of the
:math:`z`'s, and gradients are taken at their interpolation :math:`y`:

.. math::

   z_{t+1} = z_t + \\Delta_{base}(\\nabla f(y_t)), \\qquad
   x_{t+1} = (1 - c_{t+1})\\, x_t + c_{t+1} z_{t+1}, \\qquad
   y_{t+1} = \\beta_1 x_{t+1} + (1 - \\beta_1) z_{t+1},

with weights :math:`c_{t+1} = w_{t+1} / \\sum_{i\\le t+1} w_i`,
:math:`w_t = \\max_{i\\le t} \\gamma_i^{p}` (``weight_lr_power`` :math:`p`).
The params the training loop holds are :math:`y`; evaluate the model at
:math:`x`, recovered by :func:`schedule_free_eval_params`.
"""


from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    ScalarOrSchedule,
    with_extra_args_support,
)
from tsx._combine import chain
from tsx.optimizers import scale_by_rms, sgd
from tsx.schedules import warmup_constant_schedule
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    TRANSFORMATION,
    hyperparameters,
    integer,
    optional,
    real,
    require_params,
)

# b1 = 1 is allowed on purpose: the gradient is then taken at the average x
# (primal averaging), a limiting case the paper discusses.
_SCHEDULE_FREE_B1 = real(0.0, 1.0, low_open=True)

__all__ = [
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
]


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free`.

    Attributes:
      b1: the interpolation weight :math:`\\beta_1` (params' dtype).
      weight_sum: :math:`\\sum w_i`.
      step_count: 1 + steps taken (int32, starts at 1).
      max_lr: the largest learning rate seen.
      base_optimizer_state: the base optimizer's state.
      z: the base optimizer's iterate :math:`z` (in ``state_dtype``).
    """

    b1: jax.Array
    weight_sum: jax.Array
    step_count: jax.Array
    max_lr: jax.Array
    base_optimizer_state: OptState
    z: Any


def schedule_free_eval_params(state: OptState, params: Any) -> Any:
    """The evaluation point :math:`x = (y - (1 - \\beta_1) z) / \\beta_1`.

    ``state`` is a :class:`ScheduleFreeState` (or a state with ``b1`` and
    ``z``, e.g. from ``inject_hyperparams``) and ``params`` the :math:`y`
    the training loop holds.

    Args:
      state: the optimizer state holding ``b1`` and ``z``.
      params: the training iterate :math:`y`.

    Returns:
      The evaluation parameters :math:`x`, shaped like ``params``.
    """
    b1 = getattr(state, "b1", None)
    z = getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError(
            "schedule_free_eval_params needs a ScheduleFreeState (with b1 and z), "
            f"got {type(state).__name__}."
        )
    return jax.tree.map(lambda y, z_: (y - (1.0 - b1) * z_) / b1, params, z)


@hyperparameters(
    base_optimizer=TRANSFORMATION,
    learning_rate=LEARNING_RATE,
    b1=_SCHEDULE_FREE_B1,
    weight_lr_power=NON_NEGATIVE,
    state_dtype=DTYPE,
)
def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    """Turn ``base_optimizer`` into its schedule-free version.

    Args:
      base_optimizer: the optimizer stepping :math:`z` (its learning rate
        should equal ``learning_rate``; no decay schedule needed).
      learning_rate: :math:`\\gamma_t`, used for the averaging weights (number
        or schedule, e.g. a warmup).
      b1: interpolation :math:`\\beta_1` between :math:`x` and :math:`z`, in
        (0, 1].
      weight_lr_power: :math:`p` in the weights :math:`w = \\gamma_{max}^p`.
      state_dtype: dtype of :math:`z` (default: the params').

    Needs ``params`` in ``update``; extra arguments reach the base optimizer.
    """
    base_optimizer = with_extra_args_support(base_optimizer)

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        z = params if state_dtype is None else tu.tree_cast(params, state_dtype)
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype=dtype),
            weight_sum=jnp.zeros([], dtype=dtype),
            step_count=jnp.ones([], dtype=jnp.int32),
            max_lr=jnp.zeros([], dtype=dtype),
            base_optimizer_state=base_optimizer.init(params),
            z=jax.tree.map(lambda t: t.copy(), z),
        )

    def update_fn(grads, state, params=None, **extra_args):
        require_params(params, "schedule_free")
        lr = numerics.schedule_value(learning_rate, state.step_count, "learning rate")
        if callable(learning_rate):
            lr = jnp.asarray(lr, dtype=state.max_lr.dtype)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr**weight_lr_power
        total = state.weight_sum + weight
        # 0/0 before any positive learning rate (warmup from 0): no averaging
        # yet (c = 0); a NaN weight is propagated rather than hidden.
        c = jnp.where(
            jnp.logical_or(jnp.isnan(weight), jnp.isnan(total)),
            jnp.full(weight.shape, jnp.nan),
            jnp.nan_to_num(weight / total, nan=0.0, posinf=jnp.inf),
        )
        base_updates, base_state = base_optimizer.update(
            grads, state.base_optimizer_state, params, **extra_args
        )
        z = jax.tree.map(
            lambda z_, u: jnp.asarray(z_ + u).astype(jnp.asarray(z_).dtype),
            state.z,
            base_updates,
        )
        x_prev = jax.tree.map(lambda y, z_: (y - (1.0 - b1) * z_) / b1, params, state.z)
        x = jax.tree.map(lambda x_, z_: (1.0 - c) * x_ + c * z_, x_prev, z)
        y = jax.tree.map(lambda x_, z_: b1 * x_ + (1.0 - b1) * z_, x, z)
        return jax.tree.map(lambda a, b: a - b, y, params), ScheduleFreeState(
            b1=state.b1,
            weight_sum=total,
            step_count=numerics.safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _with_warmup(learning_rate: Any, warmup_steps: int | None) -> Any:
    if warmup_steps is None:
        return learning_rate
    return warmup_constant_schedule(
        init_value=0, peak_value=learning_rate, warmup_steps=warmup_steps
    )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    warmup_steps=optional(integer(0)),
    b1=_SCHEDULE_FREE_B1,
    weight_decay=optional(NON_NEGATIVE),
    weight_lr_power=NON_NEGATIVE,
    state_dtype=DTYPE,
)
def schedule_free_sgd(
    learning_rate: jax.typing.ArrayLike = 1.0,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: jax.typing.ArrayLike | None = None,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-Free SGD: iterate averaging in place of a learning-rate schedule.

    .. math::

       z_{t+1} = z_t - \gamma_t\, \nabla f(y_t), \qquad
       x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}, \qquad
       y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1)\, z_{t+1},

    with :math:`c_{t+1} = w_{t+1} / \sum_{i \le t+1} w_i` and
    :math:`w_t = \max_{i \le t} \gamma_i^p`. The training loop holds :math:`y`;
    evaluate at :math:`x`, from :func:`schedule_free_eval_params`.

    Args:
      learning_rate: :math:`\gamma` >= 0, the constant peak learning rate.
        Default 1.
      warmup_steps: a linear warmup from 0 over this many steps (an int >= 0);
        None (default): none.
      b1: :math:`\beta_1`, the interpolation, in (0, 1]. Default 0.9.
      weight_decay: >= 0, added to the gradients at :math:`y`; None (default):
        none.
      weight_lr_power: :math:`p` >= 0 of the averaging weights. Default 2.
      state_dtype: dtype of :math:`z`; None (default): the params'.

    Returns:
      A transformation with state ``ScheduleFreeState(b1, weight_sum,
      step_count, max_lr, base_optimizer_state, z)``.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024,
      arXiv:2405.15682.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.schedule_free_sgd(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> eval_params = tsx.contrib.schedule_free_eval_params(state, params)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(eval_params):.4f}")
      loss 5.00 -> 0.0022
    """
    learning_rate = _with_warmup(learning_rate, warmup_steps)
    optimizer = sgd(learning_rate)
    if weight_decay is not None:
        optimizer = chain(add_decayed_weights(weight_decay), optimizer)
    return schedule_free(
        optimizer,
        learning_rate=learning_rate,
        b1=b1,
        weight_lr_power=weight_lr_power,
        state_dtype=state_dtype,
    )


@hyperparameters(
    learning_rate=LEARNING_RATE,
    warmup_steps=optional(integer(0)),
    b1=_SCHEDULE_FREE_B1,
    b2=DECAY,
    eps=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    weight_lr_power=NON_NEGATIVE,
    state_dtype=DTYPE,
)
def schedule_free_adamw(
    learning_rate: jax.typing.ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-Free AdamW: iterate averaging in place of a learning-rate schedule.

    .. math::

       z_{t+1} &= z_t - \gamma_t \left( \frac{\nabla f(y_t)}{\sqrt{\hat v_t} + \epsilon}
                  + \lambda\, y_t \right), \qquad
       x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}, \\
       y_{t+1} &= \beta_1 x_{t+1} + (1 - \beta_1)\, z_{t+1},

    with :math:`\hat v_t` the bias-corrected EMA of squared gradients,
    :math:`c_{t+1} = w_{t+1} / \sum_{i \le t+1} w_i` and
    :math:`w_t = \max_{i \le t} \gamma_i^p`. The training loop holds :math:`y`;
    evaluate at :math:`x`, from :func:`schedule_free_eval_params`.

    Args:
      learning_rate: :math:`\gamma` >= 0, the constant peak learning rate.
        Default 0.0025.
      warmup_steps: a linear warmup from 0 over this many steps (an int >= 0);
        None (default): none.
      b1: :math:`\beta_1`, the interpolation, in (0, 1]. Default 0.9.
      b2: decay of the second moment, in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the square root. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, decoupled, at :math:`y`. Default 0.
      weight_lr_power: :math:`p` >= 0 of the averaging weights. Default 2.
      state_dtype: dtype of :math:`z`; None (default): the params'.

    Returns:
      A transformation with state ``ScheduleFreeState(b1, weight_sum,
      step_count, max_lr, base_optimizer_state, z)``.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024,
      arXiv:2405.15682.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.schedule_free_adamw(learning_rate=0.2)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> eval_params = tsx.contrib.schedule_free_eval_params(state, params)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(eval_params):.4f}")
      loss 5.00 -> 0.0015
    """
    learning_rate = _with_warmup(learning_rate, warmup_steps)
    optimizer = chain(
        scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    return schedule_free(
        optimizer,
        learning_rate=learning_rate,
        b1=b1,
        weight_lr_power=weight_lr_power,
        state_dtype=state_dtype,
    )
