"""L-BFGS: limited-memory quasi-Newton directions.

Nocedal (1980), "Updating quasi-Newton matrices with limited storage", Math.
Comp. 35; Liu & Nocedal (1989), "On the limited memory BFGS method for large
scale optimization", Math. Prog. 45; Algorithms 7.4 and 7.5 of Nocedal &
Wright (2006), "Numerical Optimization".

With :math:`s_i = w_{i+1} - w_i`, :math:`y_i = g_{i+1} - g_i` and
:math:`\\rho_i = 1 / \\langle y_i, s_i \\rangle` for the last :math:`m` steps,
the inverse-Hessian estimate :math:`H_k = H_{k,k}` is built by

.. math::

   H_{k,k-m} = \\gamma_k I, \\qquad
   H_{k,j+1} = V_j^\\top H_{k,j} V_j + \\rho_j s_j s_j^\\top, \\qquad
   V_j = I - \\rho_j y_j s_j^\\top,

applied to :math:`g_k` by the two-loop recursion without forming any
matrix. :math:`\\gamma_k = \\langle s_{k-1}, y_{k-1}\\rangle /
\\|y_{k-1}\\|^2` (``scale_init_precond=True``) or 1. At the first step
:math:`\\gamma_0 = \\min(1, 1/\\|g_0\\|)`, so the first trial step has length
at most 1. The direction is meant to be scaled by a line search
(:func:`~tsx.scale_by_zoom_linesearch` in :func:`lbfgs`).
"""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    ArrayTree,
    GradientTransformation,
    GradientTransformationExtraArgs,
    Params,
    ScalarOrSchedule,
    Updates,
    identity,
)
from tsx._combine import chain
from tsx.optimizers._zoom_linesearch import scale_by_zoom_linesearch
from tsx.transforms import scale, scale_by_learning_rate
from tsx.validation import (
    BOOL,
    OPTIONAL_LEARNING_RATE,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
    optional,
)

__all__ = ["ScaleByLBFGSState", "lbfgs", "scale_by_lbfgs"]


class ScaleByLBFGSState(NamedTuple):
    """State of :func:`scale_by_lbfgs`.

    ``count``: steps taken; ``params`` / ``updates``: the previous step's
    parameters and incoming updates; ``diff_params_memory`` /
    ``diff_updates_memory``: the last ``memory_size`` differences ``s_i`` and
    ``y_i``, stacked along a leading axis of every leaf (a ring buffer);
    ``weights_memory``: the matching ``rho_i`` (0 for unused slots).
    """

    count: jax.typing.ArrayLike
    params: Params
    updates: Params
    diff_params_memory: ArrayTree
    diff_updates_memory: ArrayTree
    weights_memory: jax.typing.ArrayLike


def _slot(tree: ArrayTree, idx: jax.Array) -> ArrayTree:
    return jax.tree.map(lambda x: x[idx], tree)


def _two_loop(
    grad: Updates,
    s_mem: ArrayTree,
    y_mem: ArrayTree,
    rhos: jax.Array,
    gamma: jax.typing.ArrayLike,
    oldest: jax.typing.ArrayLike,
) -> Updates:
    """``H_k grad`` by the two-loop recursion (Nocedal & Wright, Alg. 7.4).

    The ring buffer's slots, oldest first, are ``oldest, oldest+1, ... (mod
    m)``; the first loop walks them newest-to-oldest, the second back.
    """
    m = rhos.shape[0]
    order = (oldest + jnp.arange(m)) % m

    def backward(q, i):
        s_i, y_i = _slot(s_mem, i), _slot(y_mem, i)
        alpha = rhos[i] * tu.tree_real(tu.tree_vdot(s_i, q))
        return tu.tree_cast_like(tu.tree_add_scale(q, -alpha, y_i), q), alpha

    q, alphas = jax.lax.scan(backward, grad, order, reverse=True)
    r = tu.tree_scale(gamma, q)

    def forward(r, i_alpha):
        i, alpha = i_alpha
        s_i, y_i = _slot(s_mem, i), _slot(y_mem, i)
        beta = rhos[i] * tu.tree_real(tu.tree_vdot(y_i, r))
        return tu.tree_cast_like(tu.tree_add_scale(r, alpha - beta, s_i), r), beta

    r, _ = jax.lax.scan(forward, r, (order, alphas))
    return r


@hyperparameters(
    memory_size=POSITIVE_INT,
    scale_init_precond=BOOL,
)
def scale_by_lbfgs(
    memory_size: int = 10,
    scale_init_precond: bool = True,
) -> GradientTransformation:
    """Map the updates ``g_k`` to the L-BFGS direction ``H_k g_k`` (no sign flip).

    ``update`` needs ``params``. The memory is refreshed with the step just
    taken (from the previous call's params/updates) before preconditioning,
    so a line search chained after this sees the new estimate.

    Args:
      memory_size: number ``m`` of past differences kept (>= 1).
      scale_init_precond: scale the initial estimate by ``gamma_k`` (else 1).
    """

    def init_fn(params: Params) -> ScaleByLBFGSState:
        # Broadcast zeros_like: each slot keeps its parameter's layout.
        stacked = jax.tree.map(
            lambda x: jnp.broadcast_to(jnp.zeros_like(x), (memory_size, *x.shape)),
            params,
        )
        return ScaleByLBFGSState(
            count=jnp.asarray(0, dtype=jnp.int32),
            params=tu.tree_zeros_like(params),
            updates=tu.tree_zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros(memory_size),
        )

    def update_fn(
        updates: Updates, state: ScaleByLBFGSState, params: Params
    ) -> tuple[Updates, ScaleByLBFGSState]:
        started = state.count > 0
        slot_now = state.count % memory_size
        slot_prev = (state.count - 1) % memory_size

        s = tu.tree_sub(params, state.params)
        y = tu.tree_sub(updates, state.updates)
        sy = tu.tree_real(tu.tree_vdot(y, s))
        rho = jnp.where(sy == 0.0, 0.0, 1.0 / sy)
        # Nothing to remember before the first step: store zeros (rho = 0
        # makes the slot a no-op in the recursion).
        s, y, rho = tu.tree_where(started, (s, y, rho), tu.tree_zeros_like((s, y, rho)))
        s_mem, y_mem, rhos = jax.tree.map(
            lambda mem, new: mem.at[slot_prev].set(new),
            (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
            (s, y, rho),
        )

        if scale_init_precond:
            yy = tu.tree_norm(y, squared=True)
            gamma = jnp.where(yy > 0.0, tu.tree_real(tu.tree_vdot(y, s)) / yy, 1.0)
            first = jnp.minimum(1.0, 1.0 / tu.tree_norm(jax.lax.stop_gradient(updates)))
            gamma = jnp.where(started, gamma, first)
        else:
            gamma = 1.0

        direction = _two_loop(updates, s_mem, y_mem, rhos, gamma, slot_now)
        return direction, ScaleByLBFGSState(
            count=numerics.safe_increment(state.count),
            params=params,
            updates=updates,
            diff_params_memory=s_mem,
            diff_updates_memory=y_mem,
            weights_memory=rhos,
        )

    return GradientTransformation(init_fn, update_fn)


# Optax's default: a zoom line search of at most 20 evaluations starting at a
# step of 1, the natural step of a quasi-Newton direction. Stateless to build,
# so one shared instance is safe.
_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(
    max_linesearch_steps=20, initial_guess_strategy="one"
)


@hyperparameters(
    learning_rate=OPTIONAL_LEARNING_RATE,
    memory_size=POSITIVE_INT,
    scale_init_precond=BOOL,
    linesearch=optional(TRANSFORMATION),
)
def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformationExtraArgs
    | GradientTransformation
    | None = _DEFAULT_LINESEARCH,
) -> GradientTransformationExtraArgs:
    r"""L-BFGS with a zoom line search.

    .. math::

       d_t = -H_t\, g_t, \qquad u_t = \alpha_t\, d_t,

    where :math:`H_t` is the inverse-Hessian estimate of the last ``memory_size``
    differences of parameters and gradients (the two-loop recursion), scaled
    initially by :math:`\langle s, y\rangle / \langle y, y\rangle` when
    ``scale_init_precond``, and :math:`\alpha_t` the step the line search
    accepts (starting from 1; strong Wolfe conditions).

    ``update`` takes the objective: ``update(grads, state, params, value=v,
    grad=g, value_fn=f)``. In a loop, get ``value, grad`` from
    :func:`~tsx.value_and_grad_from_state` to reuse the line search's last
    evaluation.

    Args:
      learning_rate: an extra scale >= 0 (or a schedule) of the direction; None
        (default): none (the line search sets the step).
      memory_size: number of past differences kept (an int >= 1). Default 10.
      scale_init_precond: scale the initial inverse Hessian. Default True.
      linesearch: a line-search transformation (default: zoom line search,
        at most 20 steps); None: take the direction as it is.

    Returns:
      A transformation with state ``(ScaleByLBFGSState, lr_state,
      ScaleByZoomLinesearchState)``.

    References:
      Liu & Nocedal, "On the limited memory BFGS method for large scale
      optimization", Mathematical Programming 45 (1989); Nocedal & Wright,
      "Numerical Optimization" (2006), Algorithms 7.4-7.5 and 3.5-3.6.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.lbfgs()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> value_and_grad = tsx.value_and_grad_from_state(f)
      >>> for _ in range(3):
      ...     value, grad = value_and_grad(params, state=state)
      ...     updates, state = tx.update(
      ...         grad, state, params, value=value, grad=grad, value_fn=f)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    base_scaling = (
        scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    )
    return chain(
        scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
        base_scaling,
        identity() if linesearch is None else linesearch,
    )
