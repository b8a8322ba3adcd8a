"""Gradient transformations and wrappers (``optax.transforms``'s names, and more).

Also holds the transformations Optax keeps only at its top level (``ApplyEvery``,
``centralize``, ``lookahead``, ``multi_transform``, the clipping state aliases, ...),
so that ``tsx``'s star import of this package puts them there too.
"""

from tsx.combine import chain, named_chain
from tsx.transforms.apply_every import *  # noqa: F403
from tsx.transforms.apply_every import __all__ as _apply_every_all
from tsx.transforms.centralization import *  # noqa: F403
from tsx.transforms.centralization import __all__ as _centralization_all
from tsx.transforms.clipping import *  # noqa: F403
from tsx.transforms.clipping import __all__ as _clipping_all
from tsx.transforms.conditional import *  # noqa: F403
from tsx.transforms.conditional import __all__ as _conditional_all
from tsx.transforms.constraints import *  # noqa: F403
from tsx.transforms.constraints import __all__ as _constraints_all
from tsx.transforms.ema import *  # noqa: F403
from tsx.transforms.ema import __all__ as _ema_all
from tsx.transforms.finiteness import *  # noqa: F403
from tsx.transforms.finiteness import __all__ as _finiteness_all
from tsx.transforms.flatten import *  # noqa: F403
from tsx.transforms.flatten import __all__ as _flatten_all
from tsx.transforms.freezing import *  # noqa: F403
from tsx.transforms.freezing import __all__ as _freezing_all
from tsx.transforms.lookahead import *  # noqa: F403
from tsx.transforms.lookahead import __all__ as _lookahead_all
from tsx.transforms.masking import *  # noqa: F403
from tsx.transforms.masking import __all__ as _masking_all
from tsx.transforms.monitoring import *  # noqa: F403
from tsx.transforms.monitoring import __all__ as _monitoring_all
from tsx.transforms.multi_steps import *  # noqa: F403
from tsx.transforms.multi_steps import __all__ as _multi_steps_all
from tsx.transforms.noise import *  # noqa: F403
from tsx.transforms.noise import __all__ as _noise_all
from tsx.transforms.partition import *  # noqa: F403
from tsx.transforms.partition import __all__ as _partition_all
from tsx.transforms.per_example import *  # noqa: F403
from tsx.transforms.per_example import __all__ as _per_example_all
from tsx.transforms.scaling import *  # noqa: F403
from tsx.transforms.scaling import __all__ as _scaling_all
from tsx.transforms.trace import *  # noqa: F403
from tsx.transforms.trace import __all__ as _trace_all
from tsx.transforms.weight_decay import *  # noqa: F403
from tsx.transforms.weight_decay import __all__ as _weight_decay_all

__all__ = [
    "chain",
    "named_chain",
    *_apply_every_all,
    *_centralization_all,
    *_clipping_all,
    *_conditional_all,
    *_constraints_all,
    *_ema_all,
    *_finiteness_all,
    *_flatten_all,
    *_freezing_all,
    *_lookahead_all,
    *_masking_all,
    *_monitoring_all,
    *_multi_steps_all,
    *_noise_all,
    *_partition_all,
    *_per_example_all,
    *_scaling_all,
    *_trace_all,
    *_weight_decay_all,
]
