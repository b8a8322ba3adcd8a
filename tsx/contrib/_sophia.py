"""Sophia: a clipped, diagonal-Hessian-preconditioned momentum method.

Liu, Li, Hall, Liang & Ma (2024), "Sophia: A Scalable Stochastic
Second-order Optimizer for Language Model Pre-training", arXiv:2305.14342.
The momentum :math:`m_t` is divided elementwise by an EMA :math:`h_t` of a
diagonal-Hessian estimate (refreshed every ``update_interval`` steps) and
clipped, which caps the step where the curvature is small or negative:

.. math::

   m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t, \\qquad
   u_t = \\mathrm{clip}\\!\\left(\\frac{\\hat m_t}{\\max(\\gamma h_{t-1},
   \\epsilon)}, \\rho\\right), \\qquad
   h_t = \\beta_2 h_{t-k} + (1-\\beta_2)\\, \\hat h_t \\text{ every } k \\text{ steps},

then :math:`x_{t+1} = x_t - \\eta_t (u_t + \\lambda x_t)`. The default
estimator is Hutchinson's: for Rademacher :math:`v`,
:math:`\\mathbb{E}[v \\odot (Hv)] = \\mathrm{diag}(H)` (Hutchinson, 1989).
It needs the objective: pass ``obj_fn=`` (a function of the params) to
``update``.
"""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    Params,
    ScalarOrSchedule,
    with_extra_args_support,
)
from tsx._combine import chain
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
    integer,
    optional,
    prng_key,
    require_params,
)

__all__ = [
    "HutchinsonState",
    "SophiaState",
    "hutchinson_estimator_diag_hessian",
    "scale_by_sophia",
    "sophia",
]


class HutchinsonState(NamedTuple):
    """State of :func:`hutchinson_estimator_diag_hessian`: the PRNG key."""

    key: jax.Array


class SophiaState(NamedTuple):
    """State of ``scale_by_sophia``.

    Attributes:
      count: steps taken (int32).
      mu: momentum of the gradients.
      nu: EMA of the diagonal-Hessian estimates.
      hessian_fn_state: the estimator's state.
    """

    count: jax.Array
    mu: Any
    nu: Any
    hessian_fn_state: Any


def _rademacher_like(key: jax.Array, params: Any) -> Any:
    """Independent +-1 entries shaped like ``params`` (one key per leaf)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    signs = [
        jax.random.rademacher(k, jnp.shape(x), jnp.float32)
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, signs)


@hyperparameters(
    random_seed=optional(prng_key()),
)
def hutchinson_estimator_diag_hessian(
    random_seed: jax.Array | None = None,
) -> GradientTransformationExtraArgs:
    """Hutchinson's estimate ``v * (H v)`` of the Hessian diagonal.

    Args:
      random_seed: PRNG key (default ``jax.random.PRNGKey(0)``); split at
        every call.

    ``update(updates, state, params, obj_fn=f)`` ignores ``updates`` and
    returns ``v * (H v)`` with ``H`` the Hessian of ``f`` at ``params``
    (computed as a forward-over-reverse Hessian-vector product).
    """

    def init_fn(params):
        del params
        key = random_seed if random_seed is not None else jax.random.PRNGKey(0)
        return HutchinsonState(key=key)

    def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
        del updates, extra_args
        require_params(params, "hutchinson_estimator_diag_hessian")
        if obj_fn is None:
            raise ValueError(
                "hutchinson_estimator_diag_hessian needs the objective: call "
                "update(updates, state, params, obj_fn=f)."
            )
        key, subkey = jax.random.split(state.key)
        signs = tu.tree_cast(
            _rademacher_like(subkey, params), tu.tree_dtype(params, "lowest")
        )
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
        return jax.tree.map(lambda h, v: h * v, hvp, signs), HutchinsonState(key=key)

    return GradientTransformationExtraArgs(init_fn, update_fn)


# The default estimator (stateless until init; its key is fixed), shared.
_DEFAULT_ESTIMATOR = hutchinson_estimator_diag_hessian()


@hyperparameters(
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    gamma=NON_NEGATIVE,
    clip_threshold=optional(POSITIVE),
    update_interval=POSITIVE_INT,
    hessian_diagonal_fn=TRANSFORMATION,
    mu_dtype=DTYPE,
    verbose=BOOL,
    print_win_rate_every_n_steps=integer(0),
    nu_dtype=DTYPE,
)
def scale_by_sophia(
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: GradientTransformation = _DEFAULT_ESTIMATOR,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    """Sophia's preconditioned, clipped momentum (no learning rate).

    Args:
      b1: momentum decay, in [0, 1).
      b2: decay of the Hessian-diagonal EMA, in [0, 1).
      eps: floor of the denominator ``gamma * h``.
      gamma: scale of the Hessian estimate in the denominator.
      clip_threshold: :math:`\\rho`, elementwise clip of the step (``None``:
        no clipping).
      update_interval: :math:`k`, steps between Hessian estimates (estimated
        at steps 0, k, 2k, ...).
      hessian_diagonal_fn: the estimator, a transformation called as
        ``update(grads, state, params=params, **extra_args)``.
      mu_dtype: dtype of the momentum (default: the parameters').
      verbose: print the fraction of unclipped coordinates ("win rate").
      print_win_rate_every_n_steps: how often, when ``verbose``.
      nu_dtype: dtype of the Hessian EMA (tsx addition; default: the
        parameters', as in Optax).

    Extra arguments of ``update`` (e.g. ``obj_fn=``) reach the estimator.
    """
    if verbose and print_win_rate_every_n_steps < 1:
        raise ValueError(
            "scale_by_sophia: verbose=True needs print_win_rate_every_n_steps >= 1, "
            f"got print_win_rate_every_n_steps={print_win_rate_every_n_steps!r}."
        )
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)
    nu_dtype = None if nu_dtype is None else jnp.dtype(nu_dtype)
    estimator = with_extra_args_support(hessian_diagonal_fn)

    def init_fn(params):
        return SophiaState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params, dtype=mu_dtype),
            nu=tu.tree_zeros_like(params, dtype=nu_dtype),
            hessian_fn_state=estimator.init(params),
        )

    def update_fn(updates, state, params=None, **estimator_kwargs):
        require_params(params, "sophia")
        count = numerics.safe_int32_increment(state.count)
        grads = updates
        mu = tu.tree_update_moment(updates, state.mu, b1, 1)
        mu_hat = tu.tree_bias_correction(mu, b1, count)
        steps = jax.tree.map(
            lambda m, h: m / jnp.maximum(gamma * h, eps), mu_hat, state.nu
        )
        if clip_threshold is not None:
            if verbose:
                unclipped = jax.tree.reduce(
                    lambda a, b: a + b,
                    jax.tree.map(lambda u: jnp.sum(jnp.abs(u) < clip_threshold), steps),
                )
                win_rate = unclipped / tu.tree_size(steps)
                jax.lax.cond(
                    count % print_win_rate_every_n_steps == 0,
                    lambda: jax.debug.print("Sophia optimizer win rate: {}", win_rate),
                    lambda: None,
                )
            steps = jax.tree.map(
                lambda u: jnp.clip(u, -clip_threshold, clip_threshold), steps
            )

        def refresh(est_state, nu):
            diag, est_state = estimator.update(
                grads, est_state, params=params, **estimator_kwargs
            )
            new_nu = tu.tree_update_moment(diag, nu, b2, 1)
            # Both branches of the cond must agree on dtypes (nu_dtype).
            return est_state, tu.tree_cast_like(new_nu, nu)

        est_state, nu = jax.lax.cond(
            jnp.equal(state.count % update_interval, 0),
            refresh,
            lambda s, n: (s, n),
            state.hessian_fn_state,
            state.nu,
        )
        return steps, SophiaState(
            count=count,
            mu=tu.tree_cast_like(mu, state.mu),
            nu=nu,
            hessian_fn_state=est_state,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    b1=DECAY,
    b2=DECAY,
    eps=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    weight_decay_mask=MASK,
    gamma=NON_NEGATIVE,
    clip_threshold=optional(POSITIVE),
    update_interval=POSITIVE_INT,
    hessian_diagonal_fn=TRANSFORMATION,
    mu_dtype=DTYPE,
    verbose=BOOL,
    print_win_rate_every_n_steps=integer(0),
    nu_dtype=DTYPE,
)
def sophia(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    weight_decay_mask: Any | Callable[[Params], Any] | None = None,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: GradientTransformation = _DEFAULT_ESTIMATOR,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Sophia: a clipped momentum step preconditioned by a diagonal Hessian estimate.

    .. math::

       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
       u_t = -\eta_t \left( \mathrm{clip}\!\left(
          \frac{\hat m_t}{\max(\gamma\, h_{t-1}, \epsilon)}, \rho \right)
             + \lambda\, \theta_t \right),

    with :math:`h` an EMA (decay :math:`\beta_2`) of a diagonal-Hessian
    estimate refreshed every ``update_interval`` steps (Hutchinson's by
    default) and :math:`\rho` = ``clip_threshold``. With the default estimator
    ``update`` needs the objective: ``update(grads, state, params,
    obj_fn=f)``.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      b1: :math:`\beta_1`, decay of the momentum, in [0, 1). Default 0.965.
      b2: :math:`\beta_2`, decay of the Hessian EMA, in [0, 1). Default 0.99.
      eps: :math:`\epsilon` >= 0, lower bound of the denominator. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, decoupled. Default 1e-4.
      weight_decay_mask: which parameters decay (a tree of booleans or a
        function ``params -> tree``); None (default): all.
      gamma: :math:`\gamma` >= 0, scales the Hessian. Default 0.01.
      clip_threshold: :math:`\rho` > 0, or None for no clipping. Default 1.
      update_interval: steps between Hessian estimates (an int >= 1).
        Default 10.
      hessian_diagonal_fn: the estimator, a transformation whose ``update``
        returns a diagonal estimate. Default: Hutchinson's estimator.
      mu_dtype: dtype of the first-moment state; None (default): the
        parameters' dtype.
      verbose: print the fraction of clipped coordinates. Default False.
      print_win_rate_every_n_steps: how often to print it (an int >= 0;
        0: never). Default 0.
      nu_dtype: dtype of the second-moment state (tsx addition);
        None (default): the parameters' dtype, as in Optax.

    Returns:
      A transformation with state ``(SophiaState(count, mu, nu,
      hessian_fn_state), decay_state, lr_state)``.

    References:
      Liu et al., "Sophia: A Scalable Stochastic Second-order Optimizer for
      Language Model Pre-training", ICLR 2024, arXiv:2305.14342.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.sophia(learning_rate=0.1, weight_decay=0.0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params, obj_fn=f)
      ...     return tsx.apply_updates(params, updates), state
      >>> for _ in range(200):
      ...     params, state = step(params, state)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0444
    """
    return chain(
        scale_by_sophia(
            b1=b1,
            b2=b2,
            eps=eps,
            gamma=gamma,
            clip_threshold=clip_threshold,
            update_interval=update_interval,
            hessian_diagonal_fn=hessian_diagonal_fn,
            mu_dtype=mu_dtype,
            verbose=verbose,
            print_win_rate_every_n_steps=print_win_rate_every_n_steps,
            nu_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
