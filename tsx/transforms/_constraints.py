"""Keeping parameters inside a feasible set: ``keep_params_nonnegative``."""


import jax
import jax.numpy as jnp

from tsx._base import EmptyState, GradientTransformation
from tsx.validation import require_params

__all__ = ["NonNegativeParamsState", "keep_params_nonnegative"]

NonNegativeParamsState = EmptyState


def keep_params_nonnegative() -> GradientTransformation:
    """Change the updates so that ``params + updates >= 0`` element-wise.

    ``u <- -p`` where ``p + u < 0`` (the parameter lands on 0), else ``u`` is
    kept: a projection onto the non-negative orthant. Put it last in a chain.
    Parameters that are already negative are moved to 0.

    Returns:
      A stateless :class:`~tsx.GradientTransformation` that needs ``params``.
    """

    def init_fn(params):
        del params
        return NonNegativeParamsState()

    def update_fn(updates, state, params=None):
        require_params(params, "keep_params_nonnegative")
        new = jax.tree.map(
            lambda p, u: None if p is None else jnp.where((p + u) < 0.0, -p, u),
            params,
            updates,
            is_leaf=lambda x: x is None,
        )
        return new, state

    return GradientTransformation(init_fn, update_fn)
