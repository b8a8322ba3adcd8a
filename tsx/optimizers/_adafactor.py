"""Adafactor: Adam-like scaling with a factored second-moment estimate.

For a matrix-shaped gradient :math:`G \\in \\mathbb{R}^{n\\times m}` Adafactor
stores only running row and column means of :math:`G^2 + \\epsilon_1`,

.. math::

   R_t = \\hat\\beta_{2t} R_{t-1} + (1-\\hat\\beta_{2t})\\,
   \\mathrm{mean}_{cols}(G_t^2 + \\epsilon_1), \\qquad
   C_t = \\hat\\beta_{2t} C_{t-1} + (1-\\hat\\beta_{2t})\\,
   \\mathrm{mean}_{rows}(G_t^2 + \\epsilon_1),

and rescales by the rank-one estimate :math:`\\hat V_t = R_t C_t /
\\mathrm{mean}(R_t)`, i.e. :math:`U_t = G_t / \\sqrt{\\hat V_t}`. Arrays with
fewer than two axes of at least ``min_dim_size_to_factor`` keep a full
(unfactored) average. The decay follows :math:`\\hat\\beta_{2t} = 1 -
t^{-0.8}` (``decay_rate=0.8``). For higher-rank arrays the two largest axes
are factored. Shazeer & Stern (2018), "Adafactor: Adaptive Learning Rates
with Sublinear Memory Cost", arXiv:1804.04235; the optional capped decay of
Zhai et al. (2021), arXiv:2106.04560, fits in via ``decay_rate_fn``.
"""


import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsx import numerics
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
)
from tsx._combine import chain
from tsx.optimizers._param_block import scale_by_param_block_rms
from tsx.transforms import (
    MaskOrFn,
    add_decayed_weights,
    clip_by_block_rms,
    ema,
    scale,
    scale_by_learning_rate,
)
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    FUNCTION,
    MASK,
    NON_NEGATIVE,
    OPTIONAL_LEARNING_RATE,
    POSITIVE,
    hyperparameters,
    integer,
    optional,
    real,
    require_params,
    schedule_or,
)

__all__ = ["FactoredState", "adafactor", "scale_by_factored_rms"]


class FactoredState(NamedTuple):
    """State of :func:`scale_by_factored_rms`.

    ``v_row``/``v_col`` hold the factored statistics of factored leaves and a
    ``(1,)`` placeholder elsewhere; ``v`` holds the full statistic of
    unfactored leaves and a ``(1,)`` placeholder for factored ones.
    """

    count: jax.Array  # int32 scalar, steps taken
    v_row: Any
    v_col: Any
    v: Any


def _decay_rate_pow(
    i: jax.typing.ArrayLike, exponent: jax.typing.ArrayLike = 0.8
) -> jax.Array:
    """Adafactor's increasing decay ``1 - (i + 1)**-exponent`` at step ``i``."""
    t = jnp.array(i + 1, jnp.float32)
    return 1.0 - t ** (-exponent)


def _factored_axes(
    shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int
) -> tuple[int, int] | None:
    """``(second largest, largest)`` axis to factor over, or None to keep ``v``."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _zeros_without_axis(x: jax.Array, axis: int, dtype: Any) -> jax.Array:
    # Going through eval_shape keeps the sharding a reduction of x would have.
    reduced = jax.eval_shape(functools.partial(jnp.sum, axis=axis), x)
    return jnp.zeros_like(reduced, dtype=dtype)


@hyperparameters(
    factored=BOOL,
    # Any value a custom decay_rate_fn takes; adafactor() checks its own.
    decay_rate=real(),
    step_offset=real(),
    min_dim_size_to_factor=integer(0),
    epsilon=NON_NEGATIVE,
    decay_rate_fn=FUNCTION,
    nu_dtype=DTYPE,
)
def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: jax.typing.ArrayLike = 0.8,
    step_offset: jax.typing.ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: jax.typing.ArrayLike = 1e-30,
    decay_rate_fn: Callable[
        [jax.typing.ArrayLike, jax.typing.ArrayLike], jax.typing.ArrayLike
    ] = _decay_rate_pow,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Divide updates by a (factored) running RMS of the gradients, as Adafactor.

    Args:
      factored: factor the statistics of arrays with two large axes.
      decay_rate: parameter of ``decay_rate_fn`` (with the default, the
        exponent of ``1 - t**-decay_rate``).
      step_offset: subtracted from the step count before ``decay_rate_fn``
        (the first step of a fine-tuning phase).
      min_dim_size_to_factor: factor only when the two largest axes both have
        at least this size.
      epsilon: added to the squared gradients.
      decay_rate_fn: ``(step, decay_rate) -> decay`` for the running means.
      nu_dtype: tsx addition; dtype of the stored statistics (default: each
        parameter's dtype).
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)

    def axes_of(p):
        return _factored_axes(jnp.shape(p), factored, min_dim_size_to_factor)

    def init_fn(params):
        leaves, treedef = jax.tree.flatten(params)
        rows, cols, full = [], [], []
        for p in leaves:
            dtype = nu_dtype if nu_dtype is not None else jnp.result_type(p)
            placeholder = jnp.zeros((1,), dtype=dtype)
            axes = axes_of(p)
            if axes is None:
                rows.append(placeholder)
                cols.append(placeholder)
                full.append(jnp.zeros_like(p, dtype=dtype))
            else:
                second, largest = axes
                rows.append(_zeros_without_axis(p, largest, dtype))
                cols.append(_zeros_without_axis(p, second, dtype))
                full.append(placeholder)
        return FactoredState(
            count=jnp.zeros([], jnp.int32),
            v_row=treedef.unflatten(rows),
            v_col=treedef.unflatten(cols),
            v=treedef.unflatten(full),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "scale_by_factored_rms")
        grads, treedef = jax.tree.flatten(updates)
        p_leaves = treedef.flatten_up_to(params)
        row_leaves = treedef.flatten_up_to(state.v_row)
        col_leaves = treedef.flatten_up_to(state.v_col)
        v_leaves = treedef.flatten_up_to(state.v)
        beta = decay_rate_fn(state.count - step_offset, decay_rate)
        out, rows, cols, full = [], [], [], []
        for g, p, v_row, v_col, v in zip(
            grads, p_leaves, row_leaves, col_leaves, v_leaves, strict=True
        ):
            dtype = nu_dtype if nu_dtype is not None else jnp.result_type(p)
            placeholder = jnp.zeros((1,), dtype=dtype)
            sq = numerics.abs_sq(g) + epsilon
            axes = axes_of(p)
            if axes is None:
                new_v = (beta * v + (1.0 - beta) * sq).astype(dtype)
                out.append(g * new_v**-0.5)
                rows.append(placeholder)
                cols.append(placeholder)
                full.append(new_v)
                continue
            second, largest = axes
            new_row = beta * v_row + (1.0 - beta) * jnp.mean(sq, axis=largest)
            new_col = beta * v_col + (1.0 - beta) * jnp.mean(sq, axis=second)
            new_row, new_col = new_row.astype(dtype), new_col.astype(dtype)
            # new_row lacks the largest axis, so `second` shifts down when it
            # came after it.
            row_axis = second - 1 if second > largest else second
            row_mean = jnp.mean(new_row, axis=row_axis, keepdims=True)
            row_factor = (new_row / row_mean) ** -0.5
            col_factor = new_col**-0.5
            out.append(
                g
                * jnp.expand_dims(row_factor, axis=largest)
                * jnp.expand_dims(col_factor, axis=second)
            )
            rows.append(new_row)
            cols.append(new_col)
            full.append(placeholder)
        return treedef.unflatten(out), FactoredState(
            count=numerics.safe_increment(state.count),
            v_row=treedef.unflatten(rows),
            v_col=treedef.unflatten(cols),
            v=treedef.unflatten(full),
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=OPTIONAL_LEARNING_RATE,
    min_dim_size_to_factor=integer(0),
    decay_rate=NON_NEGATIVE,
    decay_offset=real(),
    multiply_by_parameter_scale=BOOL,
    clipping_threshold=optional(POSITIVE),
    momentum=optional(DECAY),
    dtype_momentum=DTYPE,
    weight_decay_rate=optional(schedule_or(NON_NEGATIVE)),
    eps=NON_NEGATIVE,
    factored=BOOL,
    weight_decay_mask=MASK,
    nu_dtype=DTYPE,
)
def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: jax.typing.ArrayLike = 0.8,
    decay_offset: jax.typing.ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: jax.typing.ArrayLike | None = 1.0,
    momentum: jax.typing.ArrayLike | None = None,
    dtype_momentum: Any | None = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: jax.typing.ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Adafactor: Adam-like steps with factored second moments, little memory.

    For a matrix :math:`G_t` (any parameter whose two largest dimensions are at
    least ``min_dim_size_to_factor``) the second moment is kept as a row and a
    column vector:

    .. math::

       \hat\beta_{2,t} &= 1 - (t - \text{offset})^{-c}, \qquad
       R_t = \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t})\,
             \mathrm{mean}_{cols}(G_t^2 + \epsilon), \\
       C_t &= \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t})\,
              \mathrm{mean}_{rows}(G_t^2 + \epsilon), \qquad
       \hat V_t = R_t C_t^\top / \mathrm{mean}(R_t), \\
       U_t &= G_t / \sqrt{\hat V_t}, \qquad
       U_t \leftarrow U_t / \max(1, \mathrm{RMS}(U_t) / d), \qquad
       u_t = -\eta_t\, \max(10^{-3}, \mathrm{RMS}(\theta_t))\, U_t,

    with :math:`t` counted from 1, :math:`c` = ``decay_rate`` and :math:`d` =
    ``clipping_threshold``
    (smaller parameters keep a full second moment). Then, optionally, a
    momentum (an EMA without bias correction) and a weight decay.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule; None
        (default) leaves the step unscaled (use it with a schedule of your own
        in a chain).
      min_dim_size_to_factor: factor only parameters whose two largest
        dimensions are at least this (an int >= 0). Default 128.
      decay_rate: :math:`c` >= 0 in the second-moment decay schedule. Default 0.8.
      decay_offset: offset of the step count in that schedule (a number).
        Default 0.
      multiply_by_parameter_scale: scale the step by the parameter block's RMS
        (relative step sizes). Default True.
      clipping_threshold: :math:`d` > 0, the largest RMS of a step; None: no
        clipping. Default 1.
      momentum: decay of an optional momentum, in [0, 1); None (default): none.
      dtype_momentum: dtype of the momentum state. Default float32.
      weight_decay_rate: coupled weight decay >= 0 (or a schedule), applied to
        the step after the learning rate; None (default): none.
      eps: :math:`\epsilon` >= 0, added to the squared gradients. Default 1e-30.
      factored: factor the second moment where possible. Default True.
      weight_decay_mask: which parameters decay (a tree of booleans or a
        function ``params -> tree``); None (default): all.
      nu_dtype: dtype of the factored statistics (tsx addition); None
        (default): float32.

    Returns:
      A transformation whose state holds a :class:`~tsx.FactoredState` (row,
      column and full second moments, and the step count), followed by the
      states of the optional stages.

    References:
      Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear
      Memory Cost", ICML 2018, arXiv:1804.04235.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.adafactor(learning_rate=0.1, multiply_by_parameter_scale=False)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    parts = [
        scale_by_factored_rms(
            factored,
            decay_rate,
            decay_offset,
            min_dim_size_to_factor,
            eps,
            nu_dtype=nu_dtype,
        )
    ]
    if clipping_threshold is not None:
        parts.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        # Adafactor flips the sign once, at the end.
        parts.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        parts.append(scale_by_param_block_rms())
    if momentum is not None:
        parts.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        parts.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    parts.append(scale(-1))
    return chain(*parts)
