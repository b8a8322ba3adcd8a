"""DoG and DoWG: parameter-free step sizes from distance over gradients.

DoG (Ivgi, Hinder & Carmon, 2023, "DoG is SGD's Best Friend: A
Parameter-Free Dynamic Step Size Schedule", arXiv:2302.12022) scales the
gradient by the largest distance travelled from the initial point over the
root of the summed squared gradient norms:

.. math::

   \\bar r_t = \\max(\\bar r_{t-1}, \\|x_t - x_0\\|), \\qquad
   \\eta_t = \\frac{\\bar r_t}{\\sqrt{\\sum_{i\\le t} \\|g_i\\|^2 + \\epsilon}}.

:math:`\\bar r_0 = r_\\epsilon` comes from ``init_step``: ``("distance", r)``
gives :math:`r_\\epsilon = r`; ``("heuristic", c)`` gives
:math:`c (1 + \\|x_0\\|)`; ``("learning_rate", \\eta_0)`` uses :math:`\\eta_0`
for the first step and :math:`r_\\epsilon = 0`.

DoWG (Khaled, Mishchenko & Jin, 2023, "DoWG Unleashed: An Efficient Universal
Parameter-Free Gradient Descent Method", arXiv:2305.16284) weights the
gradient norms by the squared distance estimate:

.. math::

   \\bar r_t^2 = \\max(\\bar r_{t-1}^2, \\|x_t - x_0\\|^2), \\quad
   v_t = v_{t-1} + \\bar r_t^2 \\|g_t\\|^2, \\quad
   \\eta_t = \\frac{\\bar r_t^2}{\\sqrt{v_t} + \\epsilon}.

Both norms are global (over the whole parameter tree).
"""


from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, Params, ScalarOrSchedule, identity
from tsx._combine import chain
from tsx.transforms import add_decayed_weights, scale_by_learning_rate
from tsx.validation import (
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    POSITIVE,
    Kind,
    hyperparameters,
    optional,
    require_params,
)

__all__ = ["DoGState", "DoWGState", "dog", "dowg", "scale_by_dog", "scale_by_dowg"]

_INIT_STEP_TYPES = ("distance", "learning_rate", "heuristic")


def _init_step_problem(init_step: Any) -> type[Exception] | None:
    if not isinstance(init_step, tuple | list) or len(init_step) != 2:
        return TypeError
    kind, value = init_step
    if kind not in _INIT_STEP_TYPES:
        return ValueError
    return (NON_NEGATIVE if kind == "learning_rate" else POSITIVE).problem(value)


_INIT_STEP = Kind(
    "a pair (kind, value) with kind 'distance', 'learning_rate' or 'heuristic' "
    "and value a finite float > 0 (>= 0 for 'learning_rate')",
    _init_step_problem,
)


class DoGState(NamedTuple):
    """State of ``scale_by_dog``.

    Attributes:
      is_init_step: True until the first update (bool scalar).
      init_params: the initial parameters :math:`x_0`.
      max_dist: :math:`\\bar r_t`, the largest distance from :math:`x_0`.
      sum_sq_norm_grads: :math:`\\sum \\|g\\|^2`.
    """

    is_init_step: jax.Array
    init_params: Any
    max_dist: jax.Array
    sum_sq_norm_grads: jax.Array


class DoWGState(NamedTuple):
    """State of ``scale_by_dowg``.

    Attributes:
      init_params: the initial parameters :math:`x_0`.
      weighted_sq_norm_grads: :math:`v_t = \\sum \\bar r_i^2 \\|g_i\\|^2`.
      estim_sq_dist: :math:`\\bar r_t^2`.
    """

    init_params: Any
    weighted_sq_norm_grads: jax.Array
    estim_sq_dist: jax.Array


@hyperparameters(
    init_step=_INIT_STEP,
    eps=NON_NEGATIVE,
)
def scale_by_dog(
    init_step: tuple[
        Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike
    ],
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
    """Scale updates by DoG's step size :math:`\\eta_t` (see the module docs).

    Args:
      init_step: ``(kind, value)`` with kind ``"distance"``, ``"heuristic"``
        or ``"learning_rate"``, fixing the initial distance estimate.
      eps: added to the summed squared gradient norms inside the root.
    """
    kind, value = init_step

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        if kind == "distance":
            r_eps = value
        elif kind == "heuristic":
            r_eps = value * (1 + tu.tree_norm(params))
        else:
            r_eps = 0.0
        return DoGState(
            is_init_step=jnp.asarray(True),
            init_params=params,
            max_dist=jnp.asarray(r_eps, dtype=dtype),
            sum_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "dog")
        dist = tu.tree_norm(tu.tree_sub(state.init_params, params))
        max_dist = jnp.maximum(state.max_dist, dist)
        sum_sq = state.sum_sq_norm_grads + tu.tree_norm(updates, squared=True)
        step = max_dist / jnp.sqrt(sum_sq + eps)
        if kind == "learning_rate":
            step = jnp.where(state.is_init_step, value, step)
        return tu.tree_scale(step, updates), DoGState(
            is_init_step=jnp.asarray(False),
            init_params=state.init_params,
            max_dist=max_dist,
            sum_sq_norm_grads=sum_sq,
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    init_step=_INIT_STEP,
    eps=NON_NEGATIVE,
    weight_decay=optional(NON_NEGATIVE),
    mask=MASK,
)
def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple[
        Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike
    ] = ("heuristic", 1e-6),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike | None = None,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    r"""DoG: a parameter-free step size, distance travelled over gradient norms.

    .. math::

       \bar r_t = \max(\bar r_{t-1}, \lVert x_t - x_0 \rVert), \qquad
       \eta_t = \frac{\bar r_t}
                  {\sqrt{\sum_{i \le t} \lVert g_i \rVert^2 + \epsilon}}, \qquad
       u_t = -\gamma_t\, \eta_t\, (g_t + \lambda\, x_t),

    with global norms over the whole parameter tree and :math:`\bar r_0` set by
    ``init_step`` (see the module documentation).

    Args:
      learning_rate: :math:`\gamma_t` >= 0, a multiplier of DoG's step (number
        or schedule). Default 1.
      init_step: ``(kind, value)``: ``("distance", r)`` starts from
        :math:`\bar r_0 = r`, ``("heuristic", c)`` from :math:`c (1 + \lVert x_0
        \rVert)`, ``("learning_rate", eta0)`` takes a first step of size
        ``eta0``. Default ``("heuristic", 1e-6)``.
      eps: :math:`\epsilon` >= 0, inside the square root. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0 added to the gradients first; None
        (default): none.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.

    Returns:
      A transformation with state ``(decay_state, DoGState(is_init_step,
      init_params, max_dist, sum_sq_norm_grads), lr_state)``.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic
      Step Size Schedule", ICML 2023, arXiv:2302.12022.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.dog()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(300):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        add_decayed_weights(weight_decay, mask)
        if weight_decay is not None
        else identity(),
        scale_by_dog(init_step, eps),
        scale_by_learning_rate(learning_rate),
    )


@hyperparameters(
    init_estim_sq_dist=optional(POSITIVE),
    eps=NON_NEGATIVE,
)
def scale_by_dowg(
    init_estim_sq_dist: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-4,
) -> GradientTransformation:
    """Scale updates by DoWG's step size :math:`\\eta_t` (see the module docs).

    Args:
      init_estim_sq_dist: initial squared distance estimate (default ``eps``).
      eps: added to the denominator, and the default initial estimate.
    """

    def init_fn(params):
        dtype = tu.tree_dtype(params, "lowest")
        r2 = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(
            init_params=params,
            weighted_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
            estim_sq_dist=jnp.asarray(r2, dtype=dtype),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "dowg")
        sq_dist = tu.tree_norm(tu.tree_sub(state.init_params, params), squared=True)
        estim_sq_dist = jnp.maximum(state.estim_sq_dist, sq_dist)
        weighted = (
            estim_sq_dist * tu.tree_norm(updates, squared=True)
            + state.weighted_sq_norm_grads
        )
        step = estim_sq_dist / (jnp.sqrt(weighted) + eps)
        return tu.tree_scale(step, updates), state._replace(
            estim_sq_dist=estim_sq_dist, weighted_sq_norm_grads=weighted
        )

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    init_estim_sq_dist=optional(POSITIVE),
    eps=NON_NEGATIVE,
    weight_decay=optional(NON_NEGATIVE),
    mask=MASK,
)
def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-4,
    weight_decay: jax.typing.ArrayLike | None = None,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    r"""DoWG: DoG with gradient norms weighted by the squared distance.

    .. math::

       \bar r_t^2 = \max(\bar r_{t-1}^2, \lVert x_t - x_0 \rVert^2), \qquad
       v_t = v_{t-1} + \bar r_t^2 \lVert g_t \rVert^2, \qquad
       u_t = -\gamma_t\, \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}
              (g_t + \lambda\, x_t).

    Args:
      learning_rate: :math:`\gamma_t` >= 0, a multiplier of the step (number or
        schedule). Default 1.
      init_estim_sq_dist: :math:`\bar r_0^2` > 0; None (default): ``eps``.
      eps: :math:`\epsilon` >= 0, added to the denominator. Default 1e-4.
      weight_decay: :math:`\lambda` >= 0 added to the gradients first; None
        (default): none.
      mask: which parameters are decayed: a tree of booleans shaped like the
        params, or a function ``params -> tree``; None (default): all.

    Returns:
      A transformation with state ``(decay_state, DoWGState(init_params,
      weighted_sq_norm_grads, estim_sq_dist), lr_state)``.

    References:
      Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal
      Parameter-Free Gradient Descent Method", NeurIPS 2023, arXiv:2305.16284.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.contrib.dowg()
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        add_decayed_weights(weight_decay, mask)
        if weight_decay is not None
        else identity(),
        scale_by_dowg(init_estim_sq_dist, eps),
        scale_by_learning_rate(learning_rate),
    )
