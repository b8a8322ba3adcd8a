"""Scaling gradients in the backward pass while leaving the forward pass alone."""


from typing import Any

import jax

__all__ = ["scale_gradient"]


@jax.custom_vjp
def _scaled_identity(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
    return inputs


def _forward(inputs, scale):
    return inputs, scale


def _backward(scale, cotangents):
    return jax.tree.map(lambda g: g * scale, cotangents), None


_scaled_identity.defvjp(_forward, _backward)


def scale_gradient(inputs: Any, scale: float) -> Any:
    """Identity in the forward pass; multiplies the gradient by ``scale`` going back.

    For ``y = scale_gradient(x, s)``: ``y = x`` and ``dL/dx = s * dL/dy``. A
    scale of exactly 0 is ``jax.lax.stop_gradient``.

    Args:
      inputs: an array or a tree of arrays.
      scale: the factor applied to the gradient (0 stops it).
    """
    if isinstance(scale, (int, float)) and scale == 0.0:
        return jax.lax.stop_gradient(inputs)
    return _scaled_identity(inputs, scale)
