r"""Per-coordinate mean and spread of per-element gradients, over micro-batches.

For a batch of ``B`` per-element gradients :math:`g_1, \dots, g_B` the
aggregator returns the mean and the sum of squared deviations (per
coordinate)

.. math::

    \bar g = \frac1B \sum_b g_b, \qquad
    M_2 = \sum_b (g_b - \bar g)^2,

from which the unbiased variance is :math:`M_2 / (B - 1)`. Over ``k``
micro-batches of ``B`` elements each, the statistics of the union are built
one micro-batch at a time with the pairwise update of Chan, Golub & LeVeque
(1983, "Algorithms for computing the sample variance: analysis and
recommendations", The American Statistician 37(3)): merging ``n_a = mB``
accumulated elements with a new micro-batch of ``n_b = B``,

.. math::

    \delta = \bar g_b - \bar g_a, \qquad
    \bar g = \bar g_a + \frac{\delta}{m + 1}, \qquad
    M_2 = M_{2,a} + M_{2,b} + \delta^2 \frac{n_a n_b}{n_a + n_b}
        = M_{2,a} + M_{2,b} + \delta^2 \frac{m B}{m + 1},

which avoids the cancellation of the naive :math:`\sum g^2 - B\bar g^2`.
"""


import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import Updates, init_empty_state
from tsx.experimental._aggregator import Aggregator
from tsx.validation import (
    POSITIVE_INT,
    hyperparameters,
)

__all__ = [
    "PerElementMeanAndSumSqDiffGradsState",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
]


def get_batch_size_from_per_elt_updates(
    per_elt_updates: Updates, per_elt_axis: int | list[int]
) -> int:
    """The number of elements ``B`` in a batch of per-element updates.

    The product of the sizes of the batch axes, which must agree across
    leaves.

    Args:
      per_elt_updates: leaves with batch axes ``per_elt_axis``.
      per_elt_axis: the batch axis, or a list of batch axes.

    Returns:
      ``B`` as a Python int.

    Raises:
      ValueError: leaves disagree on the batch size.
    """
    if isinstance(per_elt_axis, int):
        axes = (per_elt_axis,)
    else:
        axes = tuple(per_elt_axis)
    sizes = [
        math.prod(jnp.shape(u)[a] for a in axes)
        for u in jax.tree.leaves(per_elt_updates)
    ]
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            f"Per-element updates must have the same batch size. Got: {sizes}"
        )
    return sizes[0]


class PerElementMeanAndSumSqDiffGradsState(NamedTuple):
    r"""State of :func:`get_per_element_mean_and_sum_sq_diff_grads` (k > 1).

    Attributes:
      micro_step: micro-batches merged so far in the current cycle (int32).
      ready: whether the last call emitted the statistics (bool).
      mean_grads: the running mean :math:`\bar g` of the cycle.
      sum_sq_diff_grads: the running sum of squared deviations :math:`M_2`.
    """

    micro_step: jax.Array
    ready: jax.Array
    mean_grads: Updates
    sum_sq_diff_grads: Updates


def _batch_mean_and_sum_sq_diff(
    per_elt_updates: Updates, per_elt_axis: int | Sequence[int]
) -> tuple[Updates, Updates]:
    """Per-leaf mean over the batch axes and sum of squared deviations from it."""
    axes = (per_elt_axis,) if isinstance(per_elt_axis, int) else tuple(per_elt_axis)

    def stats(u):
        mean = jnp.mean(u, axis=axes, keepdims=True)
        sum_sq_diff = jnp.sum(jnp.square(u - mean), axis=axes)
        return jnp.squeeze(mean, axis=axes), sum_sq_diff

    pairs = jax.tree.map(stats, per_elt_updates)
    outer = jax.tree.structure(per_elt_updates)
    inner = jax.tree.structure((0, 0))
    return jax.tree.transpose(outer, inner, pairs)


@hyperparameters(
    accumulation_steps=POSITIVE_INT,
)
def get_per_element_mean_and_sum_sq_diff_grads(
    per_elt_axis: int | Sequence[int] = 0,
    accumulation_steps: int = 1,
) -> Aggregator:
    r"""Aggregate per-element gradients into their mean, with their spread as aux.

    ``update`` returns ``((mean, aux), state)`` where ``mean`` is
    :math:`\bar g` and ``aux`` is ``{"sum_sq_diff_grads": M_2, "sample_size":
    n}`` (see the module docstring), meant for
    :func:`~tsx.experimental.aggregating.process` with
    ``aggregator_has_aux=True``, which hands ``aux`` to the postprocessor as
    extra arguments (see
    :func:`~tsx.experimental.aggregating.add_mean_variance_to_opt`).

    With ``accumulation_steps = k > 1`` the statistics are merged over ``k``
    calls (Chan et al., 1983) and emitted on the ``k``-th, with
    ``n = k B``; the other calls emit zeros (``sample_size`` 0 included) and
    a state whose ``ready`` is false.

    Args:
      per_elt_axis: the batch axis (or axes) of every leaf.
      accumulation_steps: micro-batches per emitted result (>= 1).

    Returns:
      an :class:`~tsx.experimental.aggregating.Aggregator`; stateless for
      ``k = 1``, else with :class:`PerElementMeanAndSumSqDiffGradsState`.

    Raises:
      ValueError: ``accumulation_steps < 1``.
    """

    def single_batch_update(per_elt_updates, state, params=None, **extra_args):
        del params, extra_args
        batch_size = get_batch_size_from_per_elt_updates(per_elt_updates, per_elt_axis)
        mean, sum_sq_diff = _batch_mean_and_sum_sq_diff(per_elt_updates, per_elt_axis)
        aux = {"sum_sq_diff_grads": sum_sq_diff, "sample_size": batch_size}
        return (mean, aux), state

    if accumulation_steps == 1:
        return Aggregator(init_empty_state, single_batch_update)

    def init_fn(params):
        return PerElementMeanAndSumSqDiffGradsState(
            micro_step=jnp.asarray(0, dtype=jnp.int32),
            ready=jnp.asarray(False),
            mean_grads=tu.tree_zeros_like(params),
            sum_sq_diff_grads=tu.tree_zeros_like(params),
        )

    def update_fn(per_elt_updates, state, params=None, **extra_args):
        del params, extra_args
        batch_size = get_batch_size_from_per_elt_updates(per_elt_updates, per_elt_axis)
        batch_mean, batch_sum_sq_diff = _batch_mean_and_sum_sq_diff(
            per_elt_updates, per_elt_axis
        )
        m = state.micro_step
        new_m = m + 1
        delta = tu.tree_sub(batch_mean, state.mean_grads)
        mean = jax.tree.map(lambda a, d: a + d / new_m, state.mean_grads, delta)
        # n_a n_b / (n_a + n_b) with n_a = m B, n_b = B.
        merge_weight = m * batch_size / new_m
        sum_sq_diff = jax.tree.map(
            lambda a, b, d: a + b + d**2 * merge_weight,
            state.sum_sq_diff_grads,
            batch_sum_sq_diff,
            delta,
        )
        result = (
            mean,
            {"sum_sq_diff_grads": sum_sq_diff, "sample_size": batch_size * new_m},
        )
        done = new_m == accumulation_steps
        emitted = tu.tree_where(done, result, tu.tree_zeros_like(result))
        new_state = PerElementMeanAndSumSqDiffGradsState(
            micro_step=jnp.where(done, jnp.asarray(0, dtype=jnp.int32), new_m),
            ready=done,
            mean_grads=tu.tree_where(done, tu.tree_zeros_like(mean), mean),
            sum_sq_diff_grads=tu.tree_where(
                done, tu.tree_zeros_like(sum_sq_diff), sum_sq_diff
            ),
        )
        return emitted, new_state

    return Aggregator(init_fn, update_fn)
