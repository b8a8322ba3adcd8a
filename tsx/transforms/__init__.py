"""Gradient transformations and wrappers (``optax.transforms``'s names, and more)."""

from tsx.combine import chain, named_chain
from tsx.transforms.masking import *  # noqa: F403
from tsx.transforms.masking import __all__ as _masking_all
from tsx.transforms.scaling import *  # noqa: F403
from tsx.transforms.scaling import __all__ as _scaling_all
from tsx.transforms.trace import *  # noqa: F403
from tsx.transforms.trace import __all__ as _trace_all
from tsx.transforms.weight_decay import *  # noqa: F403
from tsx.transforms.weight_decay import __all__ as _weight_decay_all

__all__ = [
    "chain",
    "named_chain",
    *_masking_all,
    *_scaling_all,
    *_trace_all,
    *_weight_decay_all,
]
