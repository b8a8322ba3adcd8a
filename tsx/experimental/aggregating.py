"""Aggregators: optimizers fed per-element gradients.

Every public name of ``optax.experimental.aggregating``, with the same
signatures, defaults, numerics and state layouts:

* :class:`Aggregator`, :class:`AggregatorUpdateFn`, the type aliases and
  :func:`process` (``_aggregator.py``);
* batch averaging and micro-batch accumulation (``_averaging.py``);
* batch mean and sum of squared deviations, merged over micro-batches
  (``_mean_and_variance.py``);
* EMAs of the gradient mean and variance and :func:`add_mean_variance_to_opt`
  (``_variance_ema.py``).
"""

from tsx.experimental._aggregator import (
    AggregatedUpdates,
    Aggregator,
    AggregatorUpdateFn,
    MaybeAxis,
    PerElementUpdates,
    process,
)
from tsx.experimental._averaging import (
    AccumulateAvgUpdatesState,
    accumulate_avg_updates,
    average_incrementally_updates,
    average_per_element_updates,
)
from tsx.experimental._mean_and_variance import (
    PerElementMeanAndSumSqDiffGradsState,
    get_batch_size_from_per_elt_updates,
    get_per_element_mean_and_sum_sq_diff_grads,
)
from tsx.experimental._variance_ema import (
    PerElementMeanAndVarianceEMAState,
    add_mean_variance_to_opt,
    get_unbiased_mean_and_variance_ema,
    track_per_element_mean_and_variance_with_ema,
)

__all__ = [
    "AccumulateAvgUpdatesState",
    "AggregatedUpdates",
    "Aggregator",
    "AggregatorUpdateFn",
    "MaybeAxis",
    "PerElementMeanAndSumSqDiffGradsState",
    "PerElementMeanAndVarianceEMAState",
    "PerElementUpdates",
    "accumulate_avg_updates",
    "add_mean_variance_to_opt",
    "average_incrementally_updates",
    "average_per_element_updates",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
    "get_unbiased_mean_and_variance_ema",
    "process",
    "track_per_element_mean_and_variance_with_ema",
]
