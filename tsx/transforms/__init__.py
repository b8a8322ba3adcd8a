"""Gradient transformations and wrappers (``optax.transforms``'s names, and more).

Also holds the transformations Optax keeps only at its top level (``ApplyEvery``,
``centralize``, ``lookahead``, ``multi_transform``, the clipping state aliases, ...),
so that ``tsx``'s star import of this package puts them there too.
"""

from tsx import _module_aliases
from tsx._combine import chain, named_chain
from tsx.transforms._apply_every import ApplyEvery, apply_every
from tsx.transforms._centralization import centralize
from tsx.transforms._clipping import (
    AdaptiveGradClipState,
    ClipByGlobalNormState,
    ClipState,
    adaptive_grad_clip,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    unitwise_clip,
    unitwise_norm,
)
from tsx.transforms._conditional import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    ConditionFn,
    conditionally_mask,
    conditionally_transform,
)
from tsx.transforms._constraints import NonNegativeParamsState, keep_params_nonnegative
from tsx.transforms._ema import EmaState, ema
from tsx.transforms._finiteness import (
    ApplyIfFiniteState,
    ZeroNansState,
    apply_if_finite,
    zero_nans,
)
from tsx.transforms._flatten import flatten
from tsx.transforms._freezing import freeze, selective_transform
from tsx.transforms._lookahead import (
    LookaheadParams,
    LookaheadState,
    lookahead,
)
from tsx.transforms._masking import (
    MaskedNode,
    MaskedState,
    MaskOrFn,
    masked,
)
from tsx.transforms._monitoring import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from tsx.transforms._multi_steps import (
    MultiSteps,
    MultiStepsState,
    ShouldSkipUpdateFunction,
    skip_large_updates,
    skip_not_finite,
)
from tsx.transforms._noise import AddNoiseState, add_noise
from tsx.transforms._partition import (
    MultiTransformState,
    PartitionState,
    multi_transform,
    partition,
)
from tsx.transforms._per_example import (
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
)
from tsx.transforms._scaling import (
    ScaleByScheduleState,
    ScaleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from tsx.transforms._trace import TraceState, trace
from tsx.transforms._weight_decay import (
    AddDecayedWeightsState,
    WeightDecayScheduleState,
    add_decayed_weights,
)

__all__ = [
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "AddNoiseState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ClipByGlobalNormState",
    "ClipState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "LookaheadParams",
    "LookaheadState",
    "MaskOrFn",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "NonNegativeParamsState",
    "PartitionState",
    "ScaleByScheduleState",
    "ScaleState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "WeightDecayScheduleState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "apply_every",
    "apply_if_finite",
    "centralize",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "lookahead",
    "masked",
    "measure_with_ema",
    "monitor",
    "multi_transform",
    "named_chain",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
    "unitwise_clip",
    "unitwise_norm",
    "zero_nans",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
