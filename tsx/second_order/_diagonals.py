"""Hessian-vector products and diagonal curvature estimates (deprecated in Optax).

Optax 0.2.8 deprecates these (removal planned for 0.2.9); like Optax, each
call emits a ``DeprecationWarning``.
"""


import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

__all__ = ["fisher_diag", "hessian_diag", "hvp"]

LossFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def _warn(name: str) -> None:
    warnings.warn(
        f"The function {name} is deprecated (Optax 0.2.9 removes it).",
        DeprecationWarning,
        stacklevel=3,
    )


def _flat(tree: Any) -> jax.Array:
    return flatten_util.ravel_pytree(tree)[0]


def _hvp(loss: LossFn, v: jax.Array, params: Any, inputs, targets) -> Any:
    _, unravel = flatten_util.ravel_pytree(params)
    grad_fn = jax.grad(lambda p: loss(p, inputs, targets))
    # Forward-over-reverse: the JVP of the gradient along v is H v.
    return jax.jvp(grad_fn, (params,), (unravel(v),))[1]


def hvp(
    loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array, targets: jax.Array
) -> Any:
    r"""Hessian-vector product :math:`\nabla^2_\theta L(\theta)\, v`.

    Computed forward-over-reverse (the JVP of the gradient), without forming
    the Hessian.

    Args:
      loss: ``loss(params, inputs, targets) -> scalar``.
      v: a flat vector of the size of ``ravel(params)``.
      params: the point :math:`\theta`.
      inputs: the inputs passed to ``loss``.
      targets: the targets passed to ``loss``.

    Returns:
      :math:`H v`, shaped like ``params`` (a tree).

    References:
      Pearlmutter, "Fast exact multiplication by the Hessian", Neural
      Computation 6(1), 1994.
    """
    _warn("hvp")
    return _hvp(loss, v, params, inputs, targets)


def hessian_diag(
    loss: LossFn, params: Any, inputs: jax.Array, targets: jax.Array
) -> jax.Array:
    r"""The diagonal of the Hessian, :math:`(e_i^\top H e_i)_i`, as a flat vector.

    One Hessian-vector product per coordinate (vectorized with ``vmap``):
    exact but :math:`O(d)` products, for small models.

    Args:
      loss: ``loss(params, inputs, targets) -> scalar``.
      params: the point :math:`\theta`.
      inputs: the inputs passed to ``loss``.
      targets: the targets passed to ``loss``.

    Returns:
      the ``[d]`` diagonal, in ``ravel_pytree(params)`` order.
    """
    _warn("hessian_diag")
    basis = jnp.eye(_flat(params).size)
    return jax.vmap(
        lambda e: jnp.vdot(e, _flat(_hvp(loss, e, params, inputs, targets)))
    )(basis)


def fisher_diag(
    negative_log_likelihood: LossFn,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
    r"""Diagonal of the observed (empirical) Fisher information, :math:`g \odot g`.

    With :math:`g = \nabla_\theta (-\log p(\text{targets} \mid \text{inputs},
    \theta))` the gradient of the given negative log-likelihood.

    Args:
      negative_log_likelihood: ``nll(params, inputs, targets) -> scalar``.
      params: the point :math:`\theta`.
      inputs: the inputs.
      targets: the targets.

    Returns:
      the squared gradient, a flat ``[d]`` vector.

    References:
      Martens, "New Insights and Perspectives on the Natural Gradient
      Method", JMLR 21, 2020.
    """
    _warn("fisher_diag")
    grads = jax.grad(negative_log_likelihood)(params, inputs, targets)
    return jnp.square(_flat(grads))
