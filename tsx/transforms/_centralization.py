"""Gradient centralisation (``centralize``)."""


import jax

from tsx._base import GradientTransformation, init_empty_state

__all__ = ["centralize"]


def _subtract_mean(g: jax.Array) -> jax.Array:
    if g.ndim > 1:
        return g - g.mean(tuple(range(1, g.ndim)), keepdims=True)
    return g


def centralize() -> GradientTransformation:
    """Subtract from each leaf of rank >= 2 its mean over all axes but the first.

    ``g[i, ...] <- g[i, ...] - mean(g[i, ...])``; scalars and vectors are left
    unchanged (Yong et al., 2020, "Gradient Centralization: A New
    Optimization Technique for Deep Neural Networks", arXiv:2004.01461).

    Returns:
      A stateless :class:`~tsx.GradientTransformation`.
    """

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(_subtract_mean, updates), state

    return GradientTransformation(init_empty_state, update_fn)
