r"""Aggregators and ``process``: optimizers that start from per-element gradients.

A usual transformation receives one gradient per parameter, already reduced
over the batch (``jax.grad`` of the mean loss). An *aggregator* receives the
per-element gradients, ``jax.vmap(jax.grad(loss), in_axes=(None, 0))``, whose
leaves have shape ``[*batch_shape, *param_shape]``, and returns one update per
parameter. Seeing the individual gradients lets an optimizer clip each of
them (DP-SGD: Abadi et al., 2016, "Deep Learning with Differential Privacy",
arXiv:1607.00133) or measure their spread (see
:func:`track_per_element_mean_and_variance_with_ema`) before reducing.

:func:`process` composes the three stages

.. math::

    g_{1..B} \xrightarrow{\text{preprocessor}} u_{1..B}
    \xrightarrow{\text{aggregator}} \bar u
    \xrightarrow{\text{postprocessor}} \Delta\theta,

and runs the postprocessor only on the steps where the aggregator says its
output is ready (an accumulating aggregator emits once every ``k`` calls).
"""


from collections.abc import Sequence
from typing import Any, Protocol

import jax

from tsx import tree_utils as tu
from tsx._base import (
    ArrayTree,
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    TransformInitFn,
    takes_per_element_updates,
    with_extra_args_support,
)
from tsx.validation import updates_checked

__all__ = [
    "AggregatedUpdates",
    "Aggregator",
    "AggregatorUpdateFn",
    "MaybeAxis",
    "PerElementUpdates",
    "process",
]

# Leaves shaped [*batch_shape, *param_shape]: one update per element of a batch.
PerElementUpdates = ArrayTree
# Leaves shaped like the parameters: the batch reduced away.
AggregatedUpdates = ArrayTree
# The batch axes of per-element updates; None when there are none.
MaybeAxis = int | Sequence[int] | None


class AggregatorUpdateFn(Protocol):
    """``update(per_elt_updates, state, params=None, **extra) -> (updates, state)``.

    The same call signature as a transformation's ``update``; the input
    leaves carry the batch axes, the output leaves do not.
    """

    def __call__(
        self,
        per_elt_updates: PerElementUpdates,
        state: OptState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[AggregatedUpdates, OptState]: ...


class Aggregator(GradientTransformationExtraArgs):
    """A transformation from per-element updates to one aggregated update.

    Structurally an ``(init, update)`` pair like any transformation (it is a
    :class:`~tsx.GradientTransformationExtraArgs`), but ``update`` is fed the
    per-element gradients of a batch, ``[*batch_shape, *param_shape]``
    leaves, and returns parameter-shaped updates:

    .. code-block:: python

        grads = jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, batch)
        updates, state = aggregator.update(grads, state, params)

    The distinct class tells :func:`process` (and the user) which kind of
    gradients to feed.

    Attributes:
      init: ``init(params) -> state``.
      update: an :class:`AggregatorUpdateFn`.
    """

    init: TransformInitFn
    update: AggregatorUpdateFn


def process(
    preprocessor: GradientTransformation,
    aggregator: GradientTransformation | Aggregator,
    postprocessor: GradientTransformation,
    aggregator_has_aux: bool = False,
) -> GradientTransformation | Aggregator:
    r"""Chain a per-element stage, an aggregation and an aggregated-update stage.

    ``update(g, (s_pre, s_agg, s_post), params, **extra)`` computes

    1. ``u, s_pre = preprocessor.update(g, s_pre, params, **extra)`` on the
       per-element gradients (e.g. per-example clipping),
    2. ``agg, s_agg = aggregator.update(u, s_agg, params, **extra)``; with
       ``aggregator_has_aux`` ``agg`` is a pair ``(updates, aux)`` whose dict
       ``aux`` is added to the extra arguments of the next stage,
    3. if the aggregator's state holds a boolean ``ready`` field, the
       postprocessor runs (under :func:`jax.lax.cond`) only when it is true;
       otherwise the step returns zero updates and leaves ``s_post``
       untouched. Without a ``ready`` field it runs every step.

    The state is the triple ``(s_pre, s_agg, s_post)``. Transformations
    without extra-argument support are given it (they ignore the extras).

    Args:
      preprocessor: maps per-element gradients to per-element updates.
      aggregator: reduces per-element updates to one update (an
        :class:`Aggregator`), or accumulates already-reduced updates over
        micro-batches (a plain transformation).
      postprocessor: maps the aggregated update to the final update (usually
        an optimizer such as :func:`tsx.adam`).
      aggregator_has_aux: whether the aggregator returns ``(updates, aux)``.

    Returns:
      an :class:`Aggregator` if ``aggregator`` is one, else a
      :class:`~tsx.GradientTransformationExtraArgs`.
    """
    pre = with_extra_args_support(preprocessor)
    agg = with_extra_args_support(aggregator)
    post = with_extra_args_support(postprocessor)

    def init_fn(params):
        return pre.init(params), agg.init(params), post.init(params)

    def update_fn(per_elt_grads, state, params=None, **extra_args):
        pre_state, agg_state, post_state = state
        # Per-element updates carry a leading batch axis the params lack.
        with updates_checked():
            per_elt_updates, pre_state = pre.update(
                per_elt_grads, pre_state, params, **extra_args
            )
            aggregated, agg_state = agg.update(
                per_elt_updates, agg_state, params, **extra_args
            )
        if aggregator_has_aux:
            aggregated, aux = aggregated
            extra_args = {**extra_args, **aux}

        def run_post(updates, s, p, kwargs):
            return post.update(updates, s, p, **kwargs)

        def skip_post(updates, s, p, kwargs):
            del p, kwargs
            return tu.tree_zeros_like(updates), s

        ready = tu.tree_get(agg_state, "ready", True)
        if isinstance(ready, bool):
            # Nothing to wait for: call the postprocessor directly rather
            # than through a cond on a constant.
            branch = run_post if ready else skip_post
            updates, post_state = branch(aggregated, post_state, params, extra_args)
        else:
            updates, post_state = jax.lax.cond(
                ready, run_post, skip_post, aggregated, post_state, params, extra_args
            )
        return updates, (pre_state, agg_state, post_state)

    if takes_per_element_updates(aggregator):
        return Aggregator(init_fn, update_fn)
    return GradientTransformationExtraArgs(init_fn, update_fn)
