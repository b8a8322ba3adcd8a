"""Linen training helpers: an extended ``TrainState`` and its building blocks.

* :class:`TrainState` - Flax's ``TrainState`` with optional ``batch_stats``,
  parameter/batch-stat EMA, gradient accumulation, dynamic loss scaling,
  skipping of non-finite steps and per-step telemetry.
* :class:`DynamicLossScale` and :func:`value_and_grad` - float16 loss scaling.
* :mod:`~tsx.training.ema`, :mod:`~tsx.training.accumulation`,
  :mod:`~tsx.training.telemetry` - the math each feature uses.
"""

from tsx.training.accumulation import *  # noqa: F403
from tsx.training.accumulation import __all__ as _accumulation_all
from tsx.training.ema import *  # noqa: F403
from tsx.training.ema import __all__ as _ema_all
from tsx.training.loss_scale import *  # noqa: F403
from tsx.training.loss_scale import __all__ as _loss_scale_all
from tsx.training.telemetry import *  # noqa: F403
from tsx.training.telemetry import __all__ as _telemetry_all
from tsx.training.train_state import *  # noqa: F403
from tsx.training.train_state import __all__ as _train_state_all

__all__ = [
    *_accumulation_all,
    *_ema_all,
    *_loss_scale_all,
    *_telemetry_all,
    *_train_state_all,
]
