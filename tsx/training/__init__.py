"""Linen training helpers: an extended ``TrainState`` and its building blocks.

* :class:`TrainState` - Flax's ``TrainState`` with optional ``batch_stats``,
  parameter/batch-stat EMA, gradient accumulation, dynamic loss scaling,
  skipping of non-finite steps and per-step telemetry.
* :class:`DynamicLossScale` and :func:`value_and_grad` - float16 loss scaling.
* :mod:`~tsx.training.ema`, :mod:`~tsx.training.accumulation`,
  :mod:`~tsx.training.telemetry` - the math each feature uses.
"""

from tsx import _module_aliases
from tsx.training._accumulation import (
    AccumulateSteps,
    accumulate,
    check_accumulate_steps,
    steps_at,
)
from tsx.training._ema import (
    EmaWarmup,
    ema_decay_at,
    ema_update,
    tf_warmup,
)
from tsx.training._loss_scale import (
    DynamicLossScale,
    all_finite,
    value_and_grad,
)
from tsx.training._telemetry import find_hyperparam, global_norm
from tsx.training._train_state import TrainState

__all__ = [
    "AccumulateSteps",
    "DynamicLossScale",
    "EmaWarmup",
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
