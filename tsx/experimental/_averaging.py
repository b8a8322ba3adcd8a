r"""Averaging per-element updates and accumulating averages over micro-batches.

Averaging over the batch axes turns per-element updates into the update of
the mean loss. Accumulating the averages of ``k`` equal-sized micro-batches,

.. math::

    a_0 = 0, \qquad a_m = a_{m-1} + \frac{u_m - a_{m-1}}{m}
    \quad (m = 1, \dots, k),

gives :math:`a_k = \frac1k \sum_m u_m`, the average over a batch ``k`` times
larger, without storing more than one running mean (the incremental mean of
Welford, 1962, "Note on a method for calculating corrected sums of squares
and products", Technometrics 4(3)). It is emitted on every ``k``-th call;
the other calls emit zeros and a state with ``ready`` false, which
:func:`~tsx.experimental.aggregating.process` uses to hold the optimizer back.
"""


from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    Updates,
    identity,
    init_empty_state,
)
from tsx._combine import chain
from tsx.experimental._aggregator import Aggregator, MaybeAxis
from tsx.validation import (
    POSITIVE_INT,
    hyperparameters,
)

__all__ = [
    "AccumulateAvgUpdatesState",
    "accumulate_avg_updates",
    "average_incrementally_updates",
    "average_per_element_updates",
]


def average_per_element_updates(
    per_elt_axis: int | Sequence[int] = 0,
) -> Aggregator:
    r"""Mean over the batch axes: :math:`\bar u = \frac1B \sum_{b=1}^B u_b`.

    Args:
      per_elt_axis: the batch axis (or axes) of every leaf.

    Returns:
      a stateless :class:`~tsx.experimental.aggregating.Aggregator`.
    """

    def update_fn(per_elt_updates, state, params=None, **extra_args):
        del params, extra_args
        mean = jax.tree.map(lambda u: jnp.mean(u, axis=per_elt_axis), per_elt_updates)
        return mean, state

    return Aggregator(init_empty_state, update_fn)


class AccumulateAvgUpdatesState(NamedTuple):
    """State of :func:`accumulate_avg_updates`.

    Attributes:
      micro_step: micro-batches averaged so far in the current cycle (int).
      ready: whether the last call emitted the accumulated average (bool).
      avg_grad: the running mean of this cycle's updates.
    """

    micro_step: jax.Array
    ready: jax.Array
    avg_grad: Updates


@hyperparameters(
    accumulation_steps=POSITIVE_INT,
)
def accumulate_avg_updates(
    accumulation_steps: int,
) -> GradientTransformation:
    r"""Average updates over ``accumulation_steps`` consecutive calls.

    Calls :math:`m = 1, \dots, k` update the running mean
    :math:`a_m = a_{m-1} + (u_m - a_{m-1}) / m`; call ``k`` returns
    :math:`a_k` with ``ready`` true and restarts the cycle, the others return
    zeros with ``ready`` false. Put it between a preprocessor and an optimizer
    with :func:`~tsx.experimental.aggregating.process` to train with an
    effective batch ``k`` micro-batches large.

    Args:
      accumulation_steps: the number ``k >= 1`` of micro-batches per update.
        With 1 there is nothing to accumulate and :func:`tsx.identity` is
        returned.

    Returns:
      a :class:`~tsx.GradientTransformation` with
      :class:`AccumulateAvgUpdatesState`.

    Raises:
      ValueError: ``accumulation_steps < 1``.
    """
    if accumulation_steps == 1:
        return identity()

    def init_fn(params):
        return AccumulateAvgUpdatesState(
            micro_step=jnp.asarray(0),
            ready=jnp.asarray(False),
            avg_grad=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        avg = tu.tree_running_mean(state.avg_grad, updates, state.micro_step)
        micro_step = state.micro_step + 1
        done = micro_step == accumulation_steps
        zeros = tu.tree_zeros_like(avg)
        emitted = tu.tree_where(done, avg, zeros)
        new_state = AccumulateAvgUpdatesState(
            micro_step=jnp.where(done, jnp.asarray(0), micro_step),
            ready=done,
            avg_grad=tu.tree_where(done, zeros, avg),
        )
        return emitted, new_state

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    accumulation_steps=POSITIVE_INT,
)
def average_incrementally_updates(
    per_elt_axis: MaybeAxis, accumulation_steps: int
) -> Aggregator | GradientTransformation:
    """Average over the batch axes, then accumulate over micro-batches.

    Args:
      per_elt_axis: the batch axis (or axes) of the per-element updates, or
        None when the updates are already averaged (then only the
        accumulation happens).
      accumulation_steps: micro-batches per emitted update (see
        :func:`accumulate_avg_updates`).

    Returns:
      :func:`accumulate_avg_updates` when ``per_elt_axis`` is None; otherwise
      an :class:`~tsx.experimental.aggregating.Aggregator` whose state is
      ``(EmptyState(), accumulation_state)``.
    """
    accumulate = accumulate_avg_updates(accumulation_steps)
    if per_elt_axis is None:
        return accumulate
    both = chain(average_per_element_updates(per_elt_axis), accumulate)
    return Aggregator(both.init, both.update)
