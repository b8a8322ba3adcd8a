"""Optimizers (aliases built by chaining transformations) and their scale_by_* parts."""

from tsx.optimizers.adam import *  # noqa: F403
from tsx.optimizers.adam import __all__ as _adam_all

__all__ = [*_adam_all]
