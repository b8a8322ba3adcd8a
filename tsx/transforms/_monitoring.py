"""Recording measurements of the updates in the state: ``snapshot``, ``monitor``.

These leave the updates unchanged; they store what a measurement function
returns so that it can be read from the state (e.g. with
``tsx.tree.get(state, name)``, as in Optax).
"""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from tsx._base import (
    ArrayTree,
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Updates,
    stateless,
    with_extra_args_support,
)
from tsx._combine import chain
from tsx.transforms._ema import ema
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    FUNCTION,
    hyperparameters,
    string,
)

__all__ = [
    "MonitorState",
    "SnapshotState",
    "measure_with_ema",
    "monitor",
    "snapshot",
]


class SnapshotState(NamedTuple):
    """State of :func:`snapshot`: ``{measure_name: measurement}``."""

    measurement: dict[str, Any]


@hyperparameters(
    measure_name=string(),
    measure=FUNCTION,
)
def snapshot(
    measure_name: str, measure: Callable[[Updates], ArrayTree]
) -> GradientTransformation:
    """Store ``measure(updates)`` in the state under ``measure_name``.

    In a chain, it sees the updates as transformed by the members before it.
    ``init`` stores ``measure(params)``, which fixes the state's structure.

    Args:
      measure_name: the name the measurement is stored under.
      measure: a function ``updates -> tree`` (its structure must not change
        between steps).

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`SnapshotState`.
    """

    def init_fn(params):
        return SnapshotState({measure_name: measure(params)})

    def update_fn(updates, state, params=None):
        del state, params
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init_fn, update_fn)


class MonitorState(NamedTuple):
    """State of :func:`monitor`.

    Attributes:
      measurements: ``{name: measurement}`` from the last ``update`` (empty
        after ``init``).
      measure_states: the state of each measure, in the order given.
    """

    measurements: dict[str, ArrayTree]
    measure_states: tuple[OptState, ...]


def monitor(
    measures: dict[str, GradientTransformation | Callable[[Updates], ArrayTree]],
) -> GradientTransformationExtraArgs:
    """Record several (possibly stateful) measurements of the updates.

    Each value of ``measures`` is either a function ``updates -> measurement``
    or a gradient transformation whose *output* is the measurement (such as
    :func:`measure_with_ema`); the measurement replaces nothing, the updates
    pass through unchanged.

    Args:
      measures: a dict from name to a function ``updates -> measurement`` or a
        transformation whose output is the measurement.

    Returns:
      A :class:`~tsx.GradientTransformationExtraArgs` with state
      :class:`MonitorState`.
    """
    txs = {}
    for name, measure in measures.items():
        if callable(measure):
            measure = stateless(lambda u, _, m=measure: m(u))
        txs[name] = with_extra_args_support(measure)
    names = tuple(txs)

    def init_fn(params):
        return MonitorState({}, tuple(txs[name].init(params) for name in names))

    def update_fn(updates, state, params=None, **extra_args):
        measurements, new_states = {}, []
        for name, sub_state in zip(names, state.measure_states, strict=True):
            measurements[name], sub_state = txs[name].update(
                updates, sub_state, params, **extra_args
            )
            new_states.append(sub_state)
        return updates, MonitorState(measurements, tuple(new_states))

    return GradientTransformationExtraArgs(init_fn, update_fn)


@hyperparameters(
    measure=FUNCTION,
    decay=DECAY,
    debias=BOOL,
    accumulator_dtype=DTYPE,
)
def measure_with_ema(
    measure: Callable[[Updates], ArrayTree],
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    """A measurement of the updates, smoothed by an exponential moving average.

    Outputs ``ema(measure(updates))`` (see :func:`~tsx.ema`), meant as a
    member of :func:`monitor`. The average is shaped like
    ``measure(params)``.

    Args:
      measure: a function ``updates -> tree`` (its structure fixed).
      decay: the EMA's decay in ``[0, 1)``.
      debias: divide by ``1 - decay^t`` (default True).
      accumulator_dtype: the average's dtype (default: the measurement's).

    Returns:
      ``chain(stateless measure, ema)``; its state is ``(EmptyState(), EmaState)``.
    """
    base_ema = ema(decay, debias, accumulator_dtype)

    def ema_init(params):
        # The average has the measurement's shape, not the params'.
        return base_ema.init(measure(params))

    return chain(
        stateless(lambda updates, _: measure(updates)),
        GradientTransformation(ema_init, base_ema.update),
    )
