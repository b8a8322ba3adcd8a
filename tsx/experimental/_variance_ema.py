r"""Monitoring the mean and variance of per-element gradients with an EMA.

Fed the batch statistics of
:func:`~tsx.experimental.aggregating.get_per_element_mean_and_sum_sq_diff_grads`
(mean :math:`\bar g_t`, sum of squared deviations :math:`M_{2,t}` over
:math:`n_t` elements), the tracker keeps exponential moving averages with
decay :math:`\beta`

.. math::

    m_t = \beta m_{t-1} + (1 - \beta) \bar g_t, \qquad
    v_t = \beta v_{t-1} + (1 - \beta) \frac{M_{2,t}}{n_t - 1},

from zero. Like Adam's moments (Kingma & Ba, 2015, "Adam: A Method for
Stochastic Optimization", arXiv:1412.6980) they are biased towards zero
early on; :func:`get_unbiased_mean_and_variance_ema` divides by
:math:`1 - \beta^t`. The tracked gradient variance is a gauge of gradient
noise (the "gradient noise scale" of McCandlish et al., 2018, "An Empirical
Model of Large-Batch Training", arXiv:1812.06162, is built from it).
"""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Updates,
    identity,
)
from tsx._combine import chain
from tsx.experimental._aggregator import Aggregator, process
from tsx.experimental._mean_and_variance import (
    get_per_element_mean_and_sum_sq_diff_grads,
)
from tsx.validation import (
    DECAY,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
)

__all__ = [
    "PerElementMeanAndVarianceEMAState",
    "add_mean_variance_to_opt",
    "get_unbiased_mean_and_variance_ema",
    "track_per_element_mean_and_variance_with_ema",
]


class PerElementMeanAndVarianceEMAState(NamedTuple):
    r"""State of :func:`track_per_element_mean_and_variance_with_ema`.

    Attributes:
      count: number of updates folded in, :math:`t` (int32).
      ema_decay: the decay :math:`\beta` (kept for the bias correction).
      mean_grads_ema: :math:`m_t`, the EMA of the per-element gradient mean.
      variance_grads_ema: :math:`v_t`, the EMA of the unbiased per-element
        gradient variance.
    """

    count: jax.Array
    ema_decay: jax.Array
    mean_grads_ema: Updates
    variance_grads_ema: Updates


@hyperparameters(
    ema_decay=DECAY,
)
def track_per_element_mean_and_variance_with_ema(
    ema_decay: jax.typing.ArrayLike = 0.9,
) -> GradientTransformation:
    r"""EMAs of the gradient mean and of the per-element gradient variance.

    Passes the updates through unchanged. ``update`` requires the keyword
    arguments ``sum_sq_diff_grads`` (:math:`M_2`) and ``sample_size``
    (:math:`n`) that
    :func:`~tsx.experimental.aggregating.get_per_element_mean_and_sum_sq_diff_grads`
    produces as aux, and folds :math:`\bar g` (the incoming updates) and
    :math:`M_2/(n-1)` into the EMAs (see the module docstring). Use it through
    :func:`add_mean_variance_to_opt`.

    Args:
      ema_decay: the decay :math:`\beta \in [0, 1)`.

    Returns:
      a :class:`~tsx.GradientTransformationExtraArgs` with
      :class:`PerElementMeanAndVarianceEMAState`.

    Raises:
      ValueError: a concrete ``ema_decay`` outside ``[0, 1)``.
    """

    def ema(new, old):
        return jax.tree.map(
            lambda x, y: (1.0 - ema_decay) * x + ema_decay * y, new, old
        )

    def init_fn(params):
        return PerElementMeanAndVarianceEMAState(
            count=jnp.zeros([], jnp.int32),
            ema_decay=jnp.asarray(ema_decay),
            mean_grads_ema=tu.tree_zeros_like(params),
            variance_grads_ema=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None, *, sum_sq_diff_grads, sample_size):
        del params
        variance = tu.tree_scale(1 / (sample_size - 1), sum_sq_diff_grads)
        new_state = PerElementMeanAndVarianceEMAState(
            count=numerics.safe_int32_increment(state.count),
            ema_decay=state.ema_decay,
            mean_grads_ema=ema(updates, state.mean_grads_ema),
            variance_grads_ema=ema(variance, state.variance_grads_ema),
        )
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def get_unbiased_mean_and_variance_ema(
    state: OptState,
) -> tuple[Updates, Updates]:
    r"""Bias-corrected EMAs :math:`m_t / (1 - \beta^t)` and :math:`v_t / (1 - \beta^t)`.

    Args:
      state: an optimizer state holding exactly one
        :class:`PerElementMeanAndVarianceEMAState` (at any depth), e.g. the
        state of :func:`add_mean_variance_to_opt`.

    Returns:
      ``(mean, variance)``, trees shaped like the parameters.

    Raises:
      ValueError: ``state`` holds no such tracker state.
    """
    tracked = tu.tree_get(state, "PerElementMeanAndVarianceEMAState", None)
    if tracked is None:
        raise ValueError(
            "State must have PerElementMeanAndVarianceEMAState to compute unbiased "
            "mean and variance EMA; build the optimizer with add_mean_variance_to_opt."
        )
    correction = 1 - tracked.ema_decay**tracked.count
    mean = jax.tree.map(lambda m: m / correction, tracked.mean_grads_ema)
    variance = jax.tree.map(lambda v: v / correction, tracked.variance_grads_ema)
    return mean, variance


@hyperparameters(
    opt=TRANSFORMATION,
    ema_decay=DECAY,
    accumulation_steps=POSITIVE_INT,
)
def add_mean_variance_to_opt(
    opt: GradientTransformation,
    ema_decay: jax.typing.ArrayLike = 0.9,
    per_elt_axis: int | list[int] = 0,
    accumulation_steps: int = 1,
) -> Aggregator:
    """Wrap ``opt`` to take per-element gradients and track their mean/variance.

    The result is
    ``process(identity(), get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis,
    accumulation_steps), chain(track_per_element_mean_and_variance_with_ema(ema_decay),
    opt), aggregator_has_aux=True)``: feed it
    ``jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, batch)``; ``opt``
    sees the batch-mean gradient (merged over ``accumulation_steps``
    micro-batches), and :func:`get_unbiased_mean_and_variance_ema` reads the
    tracked statistics from the state.

    Args:
      opt: the optimizer applied to the mean gradient.
      ema_decay: decay of the EMAs, in ``[0, 1)``.
      per_elt_axis: the batch axis (or list of axes) of the gradients.
      accumulation_steps: micro-batches per optimizer step (>= 1).

    Returns:
      an :class:`~tsx.experimental.aggregating.Aggregator` with state
      ``(EmptyState(), aggregator_state, (tracker_state, opt_state))``.
    """
    return process(
        preprocessor=identity(),
        aggregator=get_per_element_mean_and_sum_sq_diff_grads(
            per_elt_axis, accumulation_steps
        ),
        postprocessor=chain(
            track_per_element_mean_and_variance_with_ema(ema_decay), opt
        ),
        aggregator_has_aux=True,
    )
