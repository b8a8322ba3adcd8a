"""The Lookahead wrapper: k fast steps forward, one slow step back."""


import logging
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx._base import GradientTransformation, OptState, Params
from tsx.validation import (
    BOOL,
    POSITIVE_INT,
    PROBABILITY,
    TRANSFORMATION,
    hyperparameters,
    require_params,
)

__all__ = ["LookaheadParams", "LookaheadState", "lookahead"]

_log = logging.getLogger(__name__)


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`.

    Attributes:
      fast_state: the fast optimizer's state.
      steps_since_sync: fast steps since the slow and fast weights last met.
    """

    fast_state: OptState
    steps_since_sync: jax.Array  # int32 scalar


class LookaheadParams(NamedTuple):
    """The pair of weights Lookahead keeps.

    Compute gradients at ``fast``; evaluate with ``slow``, which generalises
    better (Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step
    back", arXiv:1907.08610).
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> "LookaheadParams":
        """Both copies set to ``params``."""
        return cls(slow=params, fast=params)


def _is_pair(params: Any) -> bool:
    return getattr(type(params), "_fields", None) == LookaheadParams._fields


@hyperparameters(
    fast_optimizer=TRANSFORMATION,
    sync_period=POSITIVE_INT,
    slow_step_size=PROBABILITY,
    reset_state=BOOL,
)
def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: jax.typing.ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
    """Lookahead (Zhang et al., 2019, arXiv:1907.08610).

    The fast weights ``f`` follow ``fast_optimizer``. Every ``sync_period``
    steps the slow weights move toward them and the fast weights restart
    from there: ``s <- s + alpha (f - s)``, ``f <- s`` with
    ``alpha = slow_step_size``. Both moves are expressed as one update of a
    :class:`LookaheadParams`: on a sync step, with ``d = f + u - s`` (``u``
    the fast update), the slow update is ``alpha d`` and the fast update
    ``u - (1 - alpha) d``; on other steps they are ``0`` and ``u``.

    ``params`` must be a :class:`LookaheadParams` and gradients must be taken
    at ``params.fast``; apply the returned updates unchanged.

    Args:
      fast_optimizer: the inner optimizer.
      sync_period: fast steps between synchronisations ``k`` (>= 1).
      slow_step_size: the slow step ``alpha``, in ``[0, 1]``.
      reset_state: re-initialise the fast optimizer's state at each sync.

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`LookaheadState`
      whose updates are :class:`LookaheadParams`.
    """

    def init_fn(params: Any) -> LookaheadState:
        fast = getattr(params, "fast", None)
        if fast is None:
            # Accepting the bare fast weights lets code that builds the state
            # from the model's params keep working unchanged.
            _log.warning(
                "lookahead.init: params has no attribute `fast`; treating it "
                "as the fast parameters."
            )
            fast = params
        return LookaheadState(
            fast_state=fast_optimizer.init(fast),
            steps_since_sync=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None):
        require_params(params, "lookahead")
        updates, fast_state = fast_optimizer.update(
            updates, state.fast_state, params.fast
        )
        sync = state.steps_since_sync == (sync_period - 1)
        diff = jax.tree.map(
            lambda f, u, s: f + u - s, params.fast, updates, params.slow
        )
        slow_updates = jax.tree.map(lambda d: slow_step_size * sync * d, diff)
        fast_updates = jax.tree.map(
            lambda u, d: u - sync * (1 - slow_step_size) * d, updates, diff
        )
        if reset_state:
            # Blend instead of branching so the step stays one trace under jit.
            fresh = fast_optimizer.init(params.fast)
            fast_state = jax.tree.map(
                lambda cur, new: (1 - sync) * cur + sync * new, fast_state, fresh
            )
        steps = (state.steps_since_sync + 1) % sync_period
        # Answer in the params' own pair class, so that Optax's
        # LookaheadParams given here get updates they can be added to.
        pair = type(params) if _is_pair(params) else LookaheadParams
        return (
            pair(fast=fast_updates, slow=slow_updates),
            LookaheadState(fast_state=fast_state, steps_since_sync=steps),
        )

    return GradientTransformation(init_fn, update_fn)
