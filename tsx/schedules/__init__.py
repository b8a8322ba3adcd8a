"""Schedules (step -> value functions) and hyperparameter injection.

The names of ``optax.schedules``, plus :func:`warmup_stable_decay_schedule`.
"""

from tsx.base import Schedule, StatefulSchedule
from tsx.schedules.constant import *  # noqa: F403
from tsx.schedules.constant import __all__ as _constant_all
from tsx.schedules.cosine import *  # noqa: F403
from tsx.schedules.cosine import __all__ as _cosine_all
from tsx.schedules.exponential import *  # noqa: F403
from tsx.schedules.exponential import __all__ as _exponential_all
from tsx.schedules.inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    inject_hyperparams,
    inject_stateful_hyperparams,
)
from tsx.schedules.join import *  # noqa: F403
from tsx.schedules.join import __all__ as _join_all
from tsx.schedules.onecycle import *  # noqa: F403
from tsx.schedules.onecycle import __all__ as _onecycle_all
from tsx.schedules.piecewise import *  # noqa: F403
from tsx.schedules.piecewise import __all__ as _piecewise_all
from tsx.schedules.polynomial import *  # noqa: F403
from tsx.schedules.polynomial import __all__ as _polynomial_all
from tsx.schedules.sgdr import *  # noqa: F403
from tsx.schedules.sgdr import __all__ as _sgdr_all
from tsx.schedules.warmup import *  # noqa: F403
from tsx.schedules.warmup import __all__ as _warmup_all
from tsx.schedules.warmup_stable_decay import *  # noqa: F403
from tsx.schedules.warmup_stable_decay import __all__ as _wsd_all

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    *_constant_all,
    *_cosine_all,
    *_exponential_all,
    *_join_all,
    *_onecycle_all,
    *_piecewise_all,
    *_polynomial_all,
    *_sgdr_all,
    *_warmup_all,
    *_wsd_all,
]
