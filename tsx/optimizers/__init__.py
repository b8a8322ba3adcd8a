"""Optimizers (aliases built by chaining transformations) and their scale_by_* parts."""

from tsx.optimizers.adam import *  # noqa: F403
from tsx.optimizers.adam import __all__ as _adam_all
from tsx.optimizers.rmsprop import *  # noqa: F403
from tsx.optimizers.rmsprop import __all__ as _rmsprop_all
from tsx.optimizers.sgd import *  # noqa: F403
from tsx.optimizers.sgd import __all__ as _sgd_all

__all__ = [*_adam_all, *_rmsprop_all, *_sgd_all]
