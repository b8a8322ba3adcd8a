"""Applying updates to parameters, and parameter averaging."""


import jax
import jax.numpy as jnp

from tsx._base import Params, Updates
from tsx.validation import check_updates_like

__all__ = ["apply_updates", "incremental_update", "periodic_update"]


def _is_none(x) -> bool:
    return x is None


def apply_updates(params: Params, updates: Updates) -> Params:
    """``params + updates``, each result cast back to its parameter's dtype.

    ``None`` parameters stay ``None``; the sum is formed in the promoted dtype
    and cast back, so bfloat16 parameters stay bfloat16. The updates must
    have the parameters' structure and shapes (a ``(3, 1)`` update is not
    broadcast onto a ``(3,)`` parameter) and no complex update may meet a
    real parameter; each is a clear error naming the first offending path.

    Args:
      params: the parameters (a tree of arrays; None leaves allowed).
      updates: the updates, with the parameters' structure and shapes.

    Returns:
      ``params + updates`` in the parameters' dtypes.
    """

    def one(p, u):
        if p is None:
            return None
        return jnp.asarray(p + u).astype(jnp.asarray(p).dtype)

    check_updates_like(updates, params, who="apply_updates")
    return jax.tree.map(one, params, updates, is_leaf=_is_none)


def incremental_update(
    new_tensors: Params, old_tensors: Params, step_size: jax.typing.ArrayLike
) -> Params:
    """Polyak averaging: ``step_size * new + (1 - step_size) * old``.

    Polyak & Juditsky (1992), "Acceleration of stochastic approximation by
    averaging", SIAM J. Control Optim. 30(4).

    Args:
      new_tensors: the tree to move towards.
      old_tensors: the current tree, with the same structure.
      step_size: the fraction ``s`` in ``[0, 1]`` of the way to move.

    Returns:
      ``s * new + (1 - s) * old``, leaf by leaf.
    """

    def one(new, old):
        if new is None:
            return None
        return step_size * new + (1.0 - step_size) * old

    return jax.tree.map(one, new_tensors, old_tensors, is_leaf=_is_none)


def periodic_update(
    new_tensors: Params,
    old_tensors: Params,
    steps: jax.typing.ArrayLike,
    update_period: int,
) -> Params:
    """``new`` when ``steps % update_period == 0``, else ``old``.

    The target-network update of Mnih et al. (2015), Nature 518.

    Args:
      new_tensors: the tree to switch to.
      old_tensors: the current tree, with the same structure.
      steps: the current step count.
      update_period: switch when ``steps`` is a multiple of it (an int >= 1).

    Returns:
      ``new_tensors`` on those steps, ``old_tensors`` otherwise.
    """
    take_new = jnp.mod(steps, update_period) == 0
    return jax.lax.cond(take_new, lambda: new_tensors, lambda: old_tensors)
