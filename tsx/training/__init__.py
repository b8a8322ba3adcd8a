"""Linen training helpers: an extended ``TrainState`` and its feature pieces.

* :class:`TrainState` - Flax's ``TrainState`` with optional ``batch_stats``
  and the pieces below, each off (no leaves, no work) unless asked for.
* :class:`GradientAccumulation` - the mean of ``k`` micro-batch gradients.
* :class:`NonFiniteGuard` - refuses steps that would store NaN or Inf; owns
  the :class:`DynamicLossScale` for float16 training and the
  :class:`SpikeRule` (refuse gradient-norm or loss spikes).
* :class:`ParamsEMA` - exponential moving averages of params and batch stats.
* :func:`value_and_grad` - loss-scaled ``jax.value_and_grad``.
* :class:`CheckpointManager` - Orbax checkpoints with checksums, verified on
  restore, falling back past corrupt steps.
"""

from tsx import _module_aliases
from tsx.training._accumulation import (
    AccumulateSteps,
    GradientAccumulation,
    accumulate,
    check_accumulate_steps,
    steps_at,
)
from tsx.training._checkpoint import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointManager,
    CheckpointMismatchError,
)
from tsx.training._ema import (
    EmaWarmup,
    ParamsEMA,
    ema_decay_at,
    ema_update,
    tf_warmup,
)
from tsx.training._loss_scale import DynamicLossScale, all_finite, value_and_grad
from tsx.training._nonfinite import NonFiniteGuard
from tsx.training._spikes import SpikeRule
from tsx.training._telemetry import find_hyperparam, global_norm
from tsx.training._train_state import NonFiniteStateError, TrainState

__all__ = [
    "AccumulateSteps",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointMismatchError",
    "DynamicLossScale",
    "EmaWarmup",
    "GradientAccumulation",
    "NonFiniteGuard",
    "NonFiniteStateError",
    "ParamsEMA",
    "SpikeRule",
    "TrainState",
    "accumulate",
    "all_finite",
    "check_accumulate_steps",
    "ema_decay_at",
    "ema_update",
    "find_hyperparam",
    "global_norm",
    "steps_at",
    "tf_warmup",
    "value_and_grad",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
