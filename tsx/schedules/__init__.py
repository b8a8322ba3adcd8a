"""Schedules (step -> value functions) and hyperparameter injection.

The names of ``optax.schedules``, plus :func:`warmup_stable_decay_schedule`.
"""

from tsx import _module_aliases
from tsx._base import Schedule, StatefulSchedule
from tsx.schedules._constant import constant_schedule
from tsx.schedules._cosine import cosine_decay_schedule
from tsx.schedules._exponential import exponential_decay
from tsx.schedules._inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    inject_hyperparams,
    inject_stateful_hyperparams,
)
from tsx.schedules._join import join_schedules
from tsx.schedules._onecycle import cosine_onecycle_schedule, linear_onecycle_schedule
from tsx.schedules._piecewise import (
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
)
from tsx.schedules._polynomial import linear_schedule, polynomial_schedule
from tsx.schedules._sgdr import sgdr_schedule
from tsx.schedules._warmup import (
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from tsx.schedules._warmup_stable_decay import warmup_stable_decay_schedule

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "warmup_stable_decay_schedule",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
