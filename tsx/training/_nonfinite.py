"""The non-finite guard: a step that would store a NaN or Inf is not taken.

A step is refused when the gradient handed to the optimizer, or the
parameters or optimizer state the step would produce, hold a non-finite
value. Checking the results as well as the gradient catches what a
gradient check cannot: a finite gradient of 1e20 that overflows Adam's
second moment to ``inf``, or a NaN already in a restored optimizer state.
A refused step leaves params, optimizer state, batch stats and the EMA as
they were and counts in ``skipped_steps``.

The guard also owns the dynamic loss scale (:class:`DynamicLossScale`): with
float16 training an overflowing step is refused and the scale backs off.

If a step is refused although its gradient was finite, the guard checks
whether the *existing* params or optimizer state are non-finite (a bad
checkpoint, say) and records it in ``state_nonfinite``: such a state would be
refused forever, so it is reported instead (``TrainState.check_finite()``
names the path).
"""


from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tsx import tree_utils as tu
from tsx.training._loss_scale import DynamicLossScale

__all__ = ["NonFiniteGuard", "first_nonfinite"]


def first_nonfinite(paths: Sequence[str], leaves: Sequence[Any]) -> str | None:
    """The first of ``paths`` whose leaf holds NaN or Inf, else None.

    Reads the leaves on the host (outside ``jit``): for error messages after
    a device-side check has failed, and for restored states.
    """
    for path, leaf in zip(paths, leaves, strict=True):
        x = np.asarray(jax.device_get(leaf))
        if np.issubdtype(x.dtype, np.inexact) and not np.isfinite(x).all():
            return path
    return None


@struct.dataclass
class NonFiniteGuard:
    """State of the non-finite guard.

    Attributes:
      skipped_steps: optimizer steps refused so far (int32).
      state_nonfinite: True once a refused step found the existing params or
        optimizer state non-finite (bool).
      loss_scale: the dynamic loss scale, or None.
    """

    skipped_steps: jax.Array
    state_nonfinite: jax.Array
    loss_scale: DynamicLossScale | None = None

    @classmethod
    def create(cls, loss_scale: DynamicLossScale | None = None) -> "NonFiniteGuard":
        if loss_scale is not None and not isinstance(loss_scale, DynamicLossScale):
            raise TypeError(
                "TrainState.create: loss_scale must be a "
                f"tsx.training.DynamicLossScale, got loss_scale={loss_scale!r}."
            )
        return cls(
            skipped_steps=jnp.zeros([], jnp.int32),
            state_nonfinite=jnp.asarray(False),
            loss_scale=loss_scale,
        )

    def admit(
        self, due: jax.Array, inputs_ok: jax.Array, proposal: Any, current: Any
    ) -> "tuple[NonFiniteGuard, jax.Array]":
        """Whether to take the step, and the guard after it.

        The step is taken when it is due and its inputs and results are
        finite. The caller computes ``proposal`` only for this check and runs
        the step for real under ``lax.cond`` on the answer: XLA fuses the
        check into reductions over recomputed values and the step updates the
        donated buffers in place, where selecting between old and new values
        would copy every array (``benchmarks/train_state_checks.py``).

        Args:
          due: the optimizer step is due (a complete accumulation window).
          inputs_ok: the gradient handed to the optimizer is finite.
          proposal: what the step would store (new params, optimizer state).
          current: what is stored now; looked at only when a step with a
            finite gradient is refused, to report a non-finite state.

        Returns:
          The guard after the step (skip count, state report, loss scale) and
          whether the step is taken.
        """
        applied = due & inputs_ok & tu.tree_all_finite(proposal)
        suspicious = due & inputs_ok & ~applied
        state_bad = jax.lax.cond(
            suspicious,
            lambda c: ~tu.tree_all_finite(c),
            lambda c: jnp.asarray(False),
            current,
        )
        # ``state_bad`` implies ``~applied``; the ``&`` only orders this look
        # at ``current`` before the step that overwrites it in place.
        applied = applied & ~state_bad
        scale = self.loss_scale
        if scale is not None:
            # The scale follows the gradient's overflow, not the results'.
            scale = tu.tree_where(due, scale.adjust(inputs_ok), scale)
        guard = self.replace(
            skipped_steps=self.skipped_steps + (due & ~applied).astype(jnp.int32),
            state_nonfinite=self.state_nonfinite | state_bad,
            loss_scale=scale,
        )
        return guard, applied
