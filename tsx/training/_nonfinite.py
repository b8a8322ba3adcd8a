"""The non-finite guard: a step that would store a NaN or Inf is not taken.

A step is refused when the gradient handed to the optimizer, or the
parameters or optimizer state the step would produce, hold a non-finite
value. Checking the results as well as the gradient catches what a
gradient check cannot: a finite gradient of 1e20 that overflows Adam's
second moment to ``inf``, or a NaN already in a restored optimizer state.
A refused step leaves params, optimizer state, batch stats and the EMA as
they were and counts in ``skipped_steps``.

The guard also owns the dynamic loss scale (:class:`DynamicLossScale`): with
float16 training an overflowing step is refused and the scale backs off; and
the optional spike rule (:class:`SpikeRule`), which refuses a finite step
whose gradient norm or loss is far above its recent values.

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
from flax import serialization, struct

from tsx import tree_utils as tu
from tsx.training._loss_scale import DynamicLossScale
from tsx.training._spikes import SpikeRule

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
      spikes: the spike rule with its history, or None.
    """

    skipped_steps: jax.Array
    state_nonfinite: jax.Array
    loss_scale: DynamicLossScale | None = None
    spikes: SpikeRule | None = None

    @classmethod
    def create(
        cls,
        loss_scale: DynamicLossScale | None = None,
        spikes: SpikeRule | None = None,
    ) -> "NonFiniteGuard":
        if loss_scale is not None and not isinstance(loss_scale, DynamicLossScale):
            raise TypeError(
                "TrainState.create: loss_scale must be a "
                f"tsx.training.DynamicLossScale, got loss_scale={loss_scale!r}."
            )
        if spikes is not None and not isinstance(spikes, SpikeRule):
            raise TypeError(
                "TrainState.create: skip_spikes must be a tsx.training.SpikeRule, "
                f"got skip_spikes={spikes!r}."
            )
        return cls(
            skipped_steps=jnp.zeros([], jnp.int32),
            state_nonfinite=jnp.asarray(False),
            loss_scale=loss_scale,
            spikes=None if spikes is None else spikes.start("TrainState.create"),
        )

    def admit(
        self,
        due: jax.Array,
        grads: Any,
        proposal: Any,
        current: Any,
        value: jax.Array | None = None,
    ) -> "tuple[NonFiniteGuard, jax.Array]":
        """Whether to take the step, and the guard after it.

        The step is taken when it is due, the spike rule (if any) lets it
        through, and its gradient and results are finite. The caller computes
        ``proposal`` only for this check and runs the step for real under
        ``lax.cond`` on the answer: XLA fuses the check into reductions over
        recomputed values and the step updates the donated buffers in place,
        where selecting between old and new values would copy every array
        (``benchmarks/feature_cost.py``). One finiteness reduction covers the
        gradient and the results (:func:`tsx.tree_utils.tree_all_finite`
        groups leaves by shape); the gradient alone and ``current`` are looked
        at only when a due step fails it.

        Args:
          due: the optimizer step is due (a complete accumulation window).
          grads: the gradient handed to the optimizer.
          proposal: what the step would store (new params, optimizer state).
          current: what is stored now; looked at only when a step with a
            finite gradient is refused, to report a non-finite state.
          value: the spike rule's scalar (gradient norm or loss); needed when
            the guard has a spike rule.

        Returns:
          The guard after the step (skip count, state report, loss scale,
          spike history) and whether the step is taken.
        """
        finite = due & tu.tree_all_finite((grads, proposal))

        def inspect(operands: Any) -> tuple[jax.Array, jax.Array]:
            grads, current = operands
            inputs_ok = tu.tree_all_finite(grads)
            return inputs_ok, inputs_ok & ~tu.tree_all_finite(current)

        def passed(operands: Any) -> tuple[jax.Array, jax.Array]:
            return jnp.asarray(True), jnp.asarray(False)

        # A failed check is rare: only then is the gradient looked at alone
        # (for the loss scale) and the stored state (for the report).
        inputs_ok, state_bad = jax.lax.cond(
            due & ~finite, inspect, passed, (grads, current)
        )
        spikes, spike = self.spikes, jnp.asarray(False)
        if spikes is not None:
            spike = due & finite & spikes.is_spike(value)
        # ``state_bad`` implies ``~finite``; the ``&`` only orders the look at
        # ``current`` before the step that overwrites it in place.
        applied = finite & ~spike & ~state_bad
        if spikes is not None:
            spikes = spikes.record(value, applied, spike)
        scale = self.loss_scale
        if scale is not None:
            # The scale follows the gradient's overflow, not the results'.
            scale = tu.tree_where(due, scale.adjust(inputs_ok), scale)
        guard = self.replace(
            skipped_steps=self.skipped_steps + (due & ~applied).astype(jnp.int32),
            state_nonfinite=self.state_nonfinite | state_bad,
            loss_scale=scale,
            spikes=spikes,
        )
        return guard, applied


def _to_state_dict(guard: NonFiniteGuard) -> dict[str, Any]:
    # Without a spike rule the guard writes what it wrote before the rule
    # existed, so earlier checkpoints and state dicts restore unchanged.
    names = ["skipped_steps", "state_nonfinite", "loss_scale"]
    if guard.spikes is not None:
        names.append("spikes")
    return {n: serialization.to_state_dict(getattr(guard, n)) for n in names}


def _from_state_dict(target: NonFiniteGuard, state: dict[str, Any]) -> NonFiniteGuard:
    fields = {}
    for name in ("skipped_steps", "state_nonfinite", "loss_scale", "spikes"):
        if name == "spikes" and target.spikes is None:
            continue
        if name not in state:
            raise ValueError(f"Missing field {name} in the state dict of the guard.")
        fields[name] = serialization.from_state_dict(
            getattr(target, name), state[name], name=name
        )
    return target.replace(**fields)


serialization.register_serialization_state(
    NonFiniteGuard, _to_state_dict, _from_state_dict, override=True
)
