"""The spike rule: refuse steps whose gradient norm or loss jumps far above the rest.

A loss spike in large-model training usually starts with a gradient far
larger than the recent ones; taking that step can undo days of training.
The rule keeps the last ``window`` values of a scalar (the global gradient
norm, or the loss) from accepted steps, on device, and refuses a step whose
value ``x`` satisfies

.. math::

    x > \\mu + k \\sigma,

where :math:`\\mu` and :math:`\\sigma` are the mean and standard deviation of
the recorded values and :math:`k` is ``threshold``. The rule waits until
``min_history`` values are recorded. Refused values are not recorded, so a run
of spikes does not raise the bar it is measured against. The same rule is used
by large training stacks (MaxText's ``skip_step_on_spikes``, OLMo-core's
``SkipStepAdamW``).
"""


from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

__all__ = ["SpikeRule"]

_METRICS = ("grad_norm", "loss")


@struct.dataclass
class SpikeRule:
    """Refuse steps whose gradient norm (or loss) is above ``mean + k std``.

    Pass to ``TrainState.create(skip_spikes=SpikeRule(...))``, which
    enables the non-finite guard and starts the rule's history.

    Attributes:
      window: how many recent values of accepted steps the mean and standard
        deviation are taken over (int >= 2).
      threshold: ``k``, in standard deviations (> 0).
      metric: ``"grad_norm"`` (the global norm of the gradient the optimizer
        would apply, after accumulation) or ``"loss"`` (the ``loss=`` given
        to ``apply_gradients`` with the gradient that completes the step).
      min_history: values recorded before the rule refuses anything (2 to
        ``window``; default ``window``).
      history: the last ``window`` values (float32 ring buffer); set by
        :meth:`start`.
      count: values recorded so far (int32); set by :meth:`start`.
      refused: steps this rule has refused (int32); set by :meth:`start`.
    """

    window: int = struct.field(pytree_node=False, default=100)
    threshold: float = struct.field(pytree_node=False, default=6.0)
    metric: str = struct.field(pytree_node=False, default="grad_norm")
    min_history: int | None = struct.field(pytree_node=False, default=None)
    history: Any = None
    count: Any = None
    refused: Any = None

    def start(self, who: str = "SpikeRule") -> "SpikeRule":
        """This rule with its arguments checked and an empty history."""
        _check(who, self)
        return self.replace(
            history=jnp.zeros([self.window], jnp.float32),
            count=jnp.zeros([], jnp.int32),
            refused=jnp.zeros([], jnp.int32),
        )

    @property
    def needed(self) -> int:
        """Values recorded before the rule can refuse a step."""
        return self.window if self.min_history is None else self.min_history

    def is_spike(self, value: jax.Array) -> jax.Array:
        """Whether ``value`` is above ``mean + threshold * std`` of the history.

        A non-finite ``value`` is not a spike here: the finiteness check
        refuses it and says why.
        """
        n = jnp.minimum(self.count, self.window)
        valid = jnp.arange(self.window) < n
        size = jnp.maximum(n, 1).astype(jnp.float32)
        mean = jnp.sum(jnp.where(valid, self.history, 0.0)) / size
        var = jnp.sum(jnp.where(valid, (self.history - mean) ** 2, 0.0)) / size
        value = jnp.asarray(value, jnp.float32)
        bar = mean + self.threshold * jnp.sqrt(var)
        return (self.count >= self.needed) & jnp.isfinite(value) & (value > bar)

    def record(
        self, value: jax.Array, accepted: jax.Array, spike: jax.Array
    ) -> "SpikeRule":
        """The rule after a step: ``value`` recorded if ``accepted``."""
        value = jnp.asarray(value, jnp.float32)
        slot = self.count % self.window
        history = self.history.at[slot].set(
            jnp.where(accepted, value, self.history[slot])
        )
        return self.replace(
            history=history,
            count=self.count + accepted.astype(jnp.int32),
            refused=self.refused + spike.astype(jnp.int32),
        )


def _check(who: str, rule: SpikeRule) -> None:
    def bad(name: str, value: Any, want: str) -> ValueError:
        return ValueError(f"{who}: {name} must be {want}, got {name}={value!r}.")

    if not isinstance(rule.window, int) or isinstance(rule.window, bool):
        raise bad("window", rule.window, "an int >= 2")
    if rule.window < 2:
        raise bad("window", rule.window, "an int >= 2")
    threshold = rule.threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise bad("threshold", threshold, "a number > 0")
    if not threshold > 0 or threshold == float("inf"):
        raise bad("threshold", threshold, "a finite number > 0")
    if rule.metric not in _METRICS:
        raise bad("metric", rule.metric, "'grad_norm' or 'loss'")
    m = rule.min_history
    if m is not None and (
        not isinstance(m, int) or isinstance(m, bool) or not 2 <= m <= rule.window
    ):
        raise bad("min_history", m, f"None or an int in [2, window={rule.window}]")
