"""RMSProp: steps scaled by a running root-mean-square of the gradients.

The second moment is an exponential moving average of squared gradients,

.. math::

   \\nu_t = \\rho\\,\\nu_{t-1} + (1-\\rho)\\,g_t^2, \\qquad
   u_t = -\\alpha_t\\, g_t / \\sqrt{\\nu_t + \\epsilon}

(Hinton, 2012, "Neural Networks for Machine Learning", lecture 6e). With
``eps_in_sqrt=False`` the denominator is :math:`\\sqrt{\\nu_t} + \\epsilon` (as in
PyTorch). The centered variant (Graves, 2013, "Generating Sequences With
Recurrent Neural Networks", arXiv:1308.0850) also tracks the mean
:math:`\\mu_t = \\rho\\mu_{t-1} + (1-\\rho) g_t` and divides by the standard
deviation :math:`\\sqrt{\\nu_t - \\mu_t^2 + \\epsilon}`. With
``bias_correction=True`` both averages are divided by :math:`1-\\rho^t`, as in
Adam; momentum, if any, is applied after the learning rate (a trace of the
scaled steps, as in LaProp, Ziyin et al., 2020, arXiv:2002.04839).
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
    identity,
)
from tsx._combine import chain
from tsx.transforms import scale_by_learning_rate, trace
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    optional,
)

__all__ = [
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "rmsprop",
    "scale_by_rms",
    "scale_by_stddev",
]


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms` without bias correction: the second moment."""

    nu: Any


class ScaleByRmsWithCountState(NamedTuple):
    """State of :func:`scale_by_rms` with bias correction: step count and ``nu``."""

    count: jax.Array  # int32 scalar
    nu: Any


class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev` without bias correction: both moments."""

    mu: Any
    nu: Any


class ScaleByRStdDevWithCountState(NamedTuple):
    """State of :func:`scale_by_stddev` with bias correction: count and moments."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any


def _inverse_root(eps: Any, eps_in_sqrt: bool):
    """``1 / sqrt(v + eps)`` or ``1 / (sqrt(v) + eps)``, as chosen."""
    if eps_in_sqrt:
        return lambda v: jax.lax.rsqrt(v + eps)
    return lambda v: 1 / (jnp.sqrt(v) + eps)


@hyperparameters(
    decay=DECAY,
    eps=NON_NEGATIVE,
    initial_scale=NON_NEGATIVE,
    eps_in_sqrt=BOOL,
    bias_correction=BOOL,
    nu_dtype=DTYPE,
)
def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Divide updates by the root of an EMA of their squares (no learning rate).

    ``nu = decay * nu + (1 - decay) * g**2`` (``nu`` starts at
    ``initial_scale``); the update is ``g / sqrt(nu_hat + eps)`` or, with
    ``eps_in_sqrt=False``, ``g / (sqrt(nu_hat) + eps)``, where ``nu_hat`` is
    ``nu / (1 - decay**t)`` with ``bias_correction`` and ``nu`` otherwise.
    ``scale_by_rms(b2, eps_in_sqrt=False, bias_correction=True)`` equals
    ``scale_by_adam(b1=0, b2=b2)`` without storing a first moment.

    Args:
      decay: decay of the squared-gradient average, in [0, 1).
      eps: stabilising constant in the denominator.
      initial_scale: initial value of ``nu`` (PyTorch uses 0, TF1 uses 1).
      eps_in_sqrt: add ``eps`` inside (True) or outside the square root.
      bias_correction: divide ``nu`` by ``1 - decay**t``; the state then also
        counts steps (:class:`ScaleByRmsWithCountState`).
      nu_dtype: tsx addition; dtype in which ``nu`` is stored (default: the
        params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)
    inv_root = _inverse_root(eps, eps_in_sqrt)

    def init_fn(params):
        nu = tu.tree_full_like(params, initial_scale, dtype=nu_dtype)
        if bias_correction:
            return ScaleByRmsWithCountState(count=jnp.zeros([], jnp.int32), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None):
        del params
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, decay, 2)
        if bias_correction:
            count = numerics.safe_increment(state.count)
            nu_hat = tu.tree_bias_correction(nu, decay, count)
        else:
            nu_hat = nu
        updates = jax.tree.map(lambda v, g: inv_root(v) * g, nu_hat, updates)
        nu = tu.tree_cast(nu, nu_dtype)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(count=count, nu=nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    decay=DECAY,
    eps=NON_NEGATIVE,
    initial_scale=NON_NEGATIVE,
    eps_in_sqrt=BOOL,
    bias_correction=BOOL,
    nu_dtype=DTYPE,
)
def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    """Divide updates by a running standard deviation (centered RMSProp).

    ``mu = decay * mu + (1 - decay) * g`` and
    ``nu = decay * nu + (1 - decay) * |g|**2``; the update is
    ``g / sqrt(nu_hat - |mu_hat|**2 + eps)`` (or with ``eps`` outside the
    root), the hats denoting bias correction when ``bias_correction`` is set.

    Args:
      decay: decay of both averages, in [0, 1).
      eps: stabilising constant in the denominator.
      initial_scale: initial value of ``nu``.
      eps_in_sqrt: add ``eps`` inside (True) or outside the square root.
      bias_correction: divide both averages by ``1 - decay**t``; the state then
        also counts steps (:class:`ScaleByRStdDevWithCountState`).
      nu_dtype: tsx addition; dtype in which ``nu`` is stored (default: the
        params').
    """
    nu_dtype = None if nu_dtype is None else jax.dtypes.canonicalize_dtype(nu_dtype)
    inv_root = _inverse_root(eps, eps_in_sqrt)

    def init_fn(params):
        mu = tu.tree_zeros_like(params)
        nu = tu.tree_full_like(params, initial_scale, dtype=nu_dtype)
        if bias_correction:
            return ScaleByRStdDevWithCountState(
                count=jnp.zeros([], jnp.int32), mu=mu, nu=nu
            )
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, decay, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, decay, 2)
        if bias_correction:
            count = numerics.safe_increment(state.count)
            mu_hat = tu.tree_bias_correction(mu, decay, count)
            nu_hat = tu.tree_bias_correction(nu, decay, count)
        else:
            mu_hat, nu_hat = mu, nu
        updates = jax.tree.map(
            lambda m, v, g: inv_root(v - numerics.abs_sq(m)) * g,
            mu_hat,
            nu_hat,
            updates,
        )
        nu = tu.tree_cast(nu, nu_dtype)
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    decay=DECAY,
    eps=NON_NEGATIVE,
    initial_scale=NON_NEGATIVE,
    eps_in_sqrt=BOOL,
    centered=BOOL,
    momentum=optional(DECAY),
    nesterov=BOOL,
    bias_correction=BOOL,
    nu_dtype=DTYPE,
)
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: jax.typing.ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""RMSProp: steps divided by a running RMS of the gradients.

    .. math::

       \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
       s_t = g_t / \sqrt{\nu_t + \epsilon}, \qquad
       u_t = -\eta_t\, s_t,

    with :math:`\nu_0` = ``initial_scale``; ``eps_in_sqrt=False`` uses
    :math:`\sqrt{\nu_t} + \epsilon`. ``centered=True`` subtracts the squared
    running mean :math:`\mu_t^2` of the gradients inside the root (Graves'
    form); ``bias_correction`` divides :math:`\nu_t` by :math:`1 - \rho^t`; a
    ``momentum`` :math:`\mu` traces the scaled steps,
    :math:`m_t = \mu m_{t-1} + u_t` (Nesterov-style with ``nesterov=True``).

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      decay: :math:`\rho`, in [0, 1). Default 0.9.
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      initial_scale: :math:`\nu_0` >= 0. Default 0.
      eps_in_sqrt: add :math:`\epsilon` inside the square root. Default True.
      centered: divide by the running standard deviation. Default False.
      momentum: :math:`\mu` in [0, 1), or None (default) for no momentum.
      nesterov: Nesterov momentum. Default False.
      bias_correction: debias :math:`\nu_t`. Default False.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(ScaleByRmsState(nu), lr_state)``, with
      ``ScaleByRStdDevState(mu, nu)`` when centred, the ``...WithCountState``
      variants with bias correction, and a ``TraceState(trace)`` appended with
      momentum.

    References:
      Hinton, "Neural Networks for Machine Learning", lecture 6e (2012);
      Graves, "Generating Sequences With Recurrent Neural Networks", 2013,
      arXiv:1308.0850 (the centred form).

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.rmsprop(learning_rate=0.05)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    scaler = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaler(
            decay=decay,
            eps=eps,
            initial_scale=initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov)
        if momentum is not None
        else identity(),
    )
