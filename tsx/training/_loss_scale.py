"""Dynamic loss scaling for float16 training.

Float16 has a narrow range (about 6e-8 to 65504): small gradients underflow
to zero. Loss scaling (Micikevicius et al., 2018, "Mixed Precision
Training") multiplies the loss by ``S`` before differentiation, so every
gradient is computed as ``S * g``, and divides the gradients by ``S``
afterwards. The dynamic variant adapts ``S``:

* a step whose gradients are not all finite (an overflow) is skipped and the
  scale backs off: ``S <- max(S * backoff_factor, min_scale)``;
* after ``growth_interval`` consecutive finite steps the scale grows:
  ``S <- S * growth_factor`` (kept finite).

:class:`DynamicLossScale` is a pytree (it jits, shards and checkpoints): its
array fields are the current ``scale`` and the number of ``good_steps`` since
the last change; the factors and interval are static.
"""


import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from tsx.tree_utils import tree_all_finite
from tsx.validation import POSITIVE, POSITIVE_INT, hyperparameters, real

__all__ = ["DynamicLossScale", "all_finite", "value_and_grad"]

_UNSET: Any = object()

# The one all-finite reduction of tsx, under the name tsx.training has used.
all_finite = tree_all_finite


@struct.dataclass(init=False)
class DynamicLossScale:
    """A loss scale ``S`` that backs off on overflow and grows after a streak.

    ``DynamicLossScale(initial_scale=2**15, growth_factor=2.0,
    growth_interval=2000, backoff_factor=0.5, min_scale=1.0)``; after each
    real optimizer step with gradients finite (``f = 1``) or not (``f = 0``):

        S' = max(S * backoff_factor, min_scale)            if not f
        S' = S * growth_factor, good' = 0                  if f and good + 1 = interval
        S' = S,                 good' = good + 1           otherwise

    Use :meth:`value_and_grad` (or ``TrainState.value_and_grad``) to get the
    unscaled gradients of a scaled loss, and pass the scale to
    ``TrainState.create(loss_scale=...)``, which skips non-finite steps and
    adjusts the scale in ``apply_gradients``.

    Attributes:
      scale: the current scale (float32 scalar).
      good_steps: consecutive finite steps since the last change (int32).
    """

    scale: Any = struct.field(default_factory=lambda: None)
    good_steps: Any = struct.field(default_factory=lambda: None)
    growth_factor: float = struct.field(pytree_node=False, default=2.0)
    growth_interval: int = struct.field(pytree_node=False, default=2000)
    backoff_factor: float = struct.field(pytree_node=False, default=0.5)
    min_scale: float = struct.field(pytree_node=False, default=1.0)

    @hyperparameters(
        initial_scale=POSITIVE,
        growth_factor=real(1.0),
        growth_interval=POSITIVE_INT,
        backoff_factor=real(0.0, 1.0, low_open=True),
        min_scale=POSITIVE,
    )
    def __init__(
        self,
        initial_scale: float = 2.0**15,
        *,
        growth_factor: float = 2.0,
        growth_interval: int = 2000,
        backoff_factor: float = 0.5,
        min_scale: float = 1.0,
        scale: Any = _UNSET,
        good_steps: Any = _UNSET,
    ) -> None:
        if scale is _UNSET:
            scale = jnp.asarray(initial_scale, jnp.float32)
        if good_steps is _UNSET:
            good_steps = jnp.zeros([], jnp.int32)
        # Array fields are stored as given: unflattening passes tracers and
        # placeholders (None, SaveArgs, ShapeDtypeStructs) through here.
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "good_steps", good_steps)
        object.__setattr__(self, "growth_factor", growth_factor)
        object.__setattr__(self, "growth_interval", growth_interval)
        object.__setattr__(self, "backoff_factor", backoff_factor)
        object.__setattr__(self, "min_scale", min_scale)

    def scale_loss(self, loss: jax.Array) -> jax.Array:
        """``S * loss`` in the loss's dtype (so a float16 loss can overflow)."""
        return loss * self.scale.astype(jnp.result_type(loss))

    def unscale(self, grads: Any) -> Any:
        """``g / S`` leaf by leaf, computed in float32 and cast back."""

        def one(g: jax.Array) -> jax.Array:
            return (
                g.astype(jnp.promote_types(g.dtype, jnp.float32)) / self.scale
            ).astype(g.dtype)

        return jax.tree.map(one, grads)

    def adjust(self, grads_finite: jax.typing.ArrayLike) -> "DynamicLossScale":
        """The scale after one optimizer step whose gradients were (not) finite."""
        finite = jnp.asarray(grads_finite, bool)
        grow = finite & (self.good_steps + 1 >= self.growth_interval)
        grown = self.scale * self.growth_factor
        grown = jnp.where(jnp.isfinite(grown), grown, self.scale)
        backed_off = jnp.maximum(
            self.scale * self.backoff_factor, jnp.float32(self.min_scale)
        )
        new_scale = jnp.where(finite, jnp.where(grow, grown, self.scale), backed_off)
        new_good = jnp.where(finite & ~grow, self.good_steps + 1, 0)
        return self.replace(
            scale=new_scale.astype(jnp.float32), good_steps=new_good.astype(jnp.int32)
        )

    def value_and_grad(
        self,
        fun: Callable[..., Any],
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
        *,
        return_finite: bool | None = None,
    ) -> Callable[..., tuple[Any, ...]]:
        """:func:`value_and_grad` with this scale (see there for ``return_finite``)."""
        return value_and_grad(
            fun, self, argnums=argnums, has_aux=has_aux, return_finite=return_finite
        )

    def __repr__(self) -> str:
        return (
            f"DynamicLossScale(scale={self.scale}, good_steps={self.good_steps}, "
            f"growth_factor={self.growth_factor}, "
            f"growth_interval={self.growth_interval}, "
            f"backoff_factor={self.backoff_factor}, min_scale={self.min_scale})"
        )


def value_and_grad(
    fun: Callable[..., Any],
    loss_scale: DynamicLossScale | None = None,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    *,
    return_finite: bool | None = None,
    transform: Callable[..., Callable[..., Any]] = jax.value_and_grad,
) -> Callable[..., tuple[Any, ...]]:
    """``jax.value_and_grad`` of a loss-scaled ``fun``, returning unscaled results.

    With a ``loss_scale`` ``S`` the gradient is taken of ``S * loss`` and
    divided by ``S``; ``value`` is always ``fun``'s own output (``(loss,
    aux)`` with ``has_aux=True``).

    Args:
      fun: the loss function.
      loss_scale: a :class:`DynamicLossScale`, or None (no scaling).
      argnums: as in :func:`jax.value_and_grad`.
      has_aux: as in :func:`jax.value_and_grad`.
      return_finite: ``False`` returns ``(value, grads)``, like
        :func:`jax.value_and_grad`; ``TrainState.apply_gradients`` checks
        finiteness itself. ``True`` adds a scalar bool ``grads_finite``. Not
        given: ``(value, grads, grads_finite)`` with a ``DeprecationWarning``
        (the default becomes ``False`` in the next release).
      transform: the value-and-gradient transformation applied to the scaled
        ``fun``, called as ``transform(f, argnums=..., has_aux=True)``:
        :func:`jax.value_and_grad` (default) or ``flax.nnx.value_and_grad``
        for a function of NNX modules.
    """
    if return_finite is None:
        warnings.warn(
            "value_and_grad returns (value, grads, grads_finite) for one more "
            "release; pass return_finite=False for (value, grads) as "
            "jax.value_and_grad returns (TrainState.apply_gradients checks "
            "finiteness), or return_finite=True to keep the flag.",
            DeprecationWarning,
            stacklevel=3,
        )
        return_finite = True

    def scaled(*args: Any, **kwargs: Any) -> tuple[jax.Array, Any]:
        out = fun(*args, **kwargs)
        loss = out[0] if has_aux else out
        if loss_scale is not None:
            loss = loss_scale.scale_loss(loss)
        return loss, out

    grad_fn = transform(scaled, argnums=argnums, has_aux=True)

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        (_, value), grads = grad_fn(*args, **kwargs)
        if loss_scale is not None:
            grads = loss_scale.unscale(grads)
        if return_finite:
            return value, grads, tree_all_finite(grads)
        return value, grads

    return wrapped
