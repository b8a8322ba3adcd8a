"""Sharpness-Aware Minimization (SAM), and gradient normalisation.

Foret, Kleiner, Mobahi & Neyshabur (2021), "Sharpness-Aware Minimization for
Efficiently Improving Generalization", arXiv:2010.01412. SAM minimises the
worst loss in a neighbourhood: it first climbs to an adversarial point
:math:`\\tilde x = x + \\rho\\, g / \\|g\\|` (the ``adv_optimizer``'s step,
negated), then applies the outer ``optimizer`` to the gradient *at*
:math:`\\tilde x`, from the original :math:`x`:

.. math::

   x_{t+1} = x_t - \\eta\\, \\nabla f\\big(x_t + \\rho\\, \\nabla f(x_t) /
   \\|\\nabla f(x_t)\\|\\big).

With ``sync_period`` :math:`k`, :math:`k - 1` adversarial steps precede each
outer step. *Transparent* mode (default) spreads them over ordinary
``update`` calls: the params seen by the training loop alternate between
adversarial points and real iterates (the real iterate is kept in the state's
``cache``). *Opaque* mode does all :math:`k` steps in one ``update`` and needs
``grad_fn(params, i)`` to evaluate gradients itself.

:func:`normalize` divides updates by their global norm:
``adv_optimizer=chain(normalize(), sgd(rho))`` gives SAM's ascent step
:math:`\\rho\\, g / \\|g\\|` (``sam`` negates the adversarial updates).
"""


from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import (
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
)
from tsx._update import apply_updates
from tsx.validation import (
    BOOL,
    POSITIVE_INT,
    TRANSFORMATION,
    hyperparameters,
    optional,
    string,
)

__all__ = ["NormalizeState", "SAMState", "normalize", "sam"]

NormalizeState = EmptyState


def normalize() -> GradientTransformation:
    """Divide the updates by their global L2 norm: ``g / ||g||``."""

    def init_fn(params):
        del params
        return NormalizeState()

    def update_fn(updates, state, params=None):
        del params
        norm = tu.tree_norm(updates)
        return jax.tree.map(lambda g: g / norm, updates), state

    return GradientTransformation(init_fn, update_fn)


class SAMState(NamedTuple):
    """State of :func:`sam`.

    Attributes:
      steps_since_sync: position in the ``sync_period`` cycle (int32).
      opt_state: the outer optimizer's state.
      adv_state: the adversarial optimizer's state.
      cache: the real iterate while the loop sits at adversarial points
        (``None`` in opaque mode).
    """

    steps_since_sync: jax.Array
    opt_state: OptState
    adv_state: OptState
    cache: Any | None


@hyperparameters(
    optimizer=TRANSFORMATION,
    adv_optimizer=TRANSFORMATION,
    sync_period=POSITIVE_INT,
    reset_state=BOOL,
    opaque_mode=BOOL,
    batch_axis_name=optional(string()),
)
def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformationExtraArgs:
    """Sharpness-Aware Minimization (Foret et al., 2021, arXiv:2010.01412).

    Args:
      optimizer: the outer optimizer, applied every ``sync_period`` steps.
      adv_optimizer: the adversarial optimizer; its updates are negated
        (ascent). E.g. ``chain(normalize(), sgd(rho))``.
      sync_period: steps per outer step, ``k - 1`` of them adversarial (>= 1).
      reset_state: re-initialise ``adv_optimizer`` after each outer step.
      opaque_mode: do all the steps inside one ``update``, calling
        ``grad_fn(params, i)`` (an extra argument of ``update``).
      batch_axis_name: in opaque mode, average ``grad_fn``'s gradients over
        this mapped axis (``jax.lax.pmean``).
    """

    def init_fn(params):
        return SAMState(
            steps_since_sync=jnp.zeros(shape=(), dtype=jnp.int32),
            opt_state=optimizer.init(params),
            adv_state=adv_optimizer.init(params),
            cache=None if opaque_mode else params,
        )

    def select(cond, if_true, if_false):
        # Arithmetic selection (not where), leaf by leaf, as the reference does.
        return jax.tree.map(lambda a, b: cond * a + (1 - cond) * b, if_true, if_false)

    def transparent_update(
        updates: Any,
        state: SAMState,
        params: Any,
        *,
        grad_fn: Callable[[Any, int], Any] | None = None,
    ):
        del grad_fn
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        adv_updates = jax.tree.map(lambda x: -x, adv_updates)
        # The outer step starts from the cached real iterate, so the update
        # returned moves the loop's params from x~ back to x and on to x+.
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        opt_updates = jax.tree.map(
            lambda c, p, u: c - p + u, state.cache, params, opt_updates
        )
        cache = select(first, params, state.cache)
        new_updates = select(last, opt_updates, adv_updates)
        if reset_state:
            adv_state = select(last, adv_optimizer.init(params), adv_state)
        else:
            adv_state = select(last, state.adv_state, adv_state)
        opt_state = select(last, opt_state, state.opt_state)
        return new_updates, SAMState(
            steps_since_sync=(state.steps_since_sync + 1) % sync_period,
            adv_state=adv_state,
            opt_state=opt_state,
            cache=cache,
        )

    def opaque_update(
        updates: Any,
        state: SAMState,
        params: Any,
        *,
        grad_fn: Callable[[Any, int], Any] | None = None,
    ):
        if grad_fn is None:
            raise ValueError(
                "sam(opaque_mode=True) needs grad_fn: call update(updates, state, "
                "params, grad_fn=lambda params, i: gradients)."
            )
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(
                adv_updates, adv_state, adv_params
            )
            adv_updates = jax.tree.map(lambda x: -x, adv_updates)
            adv_params = apply_updates(adv_params, adv_updates)
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        new_updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
        return new_updates, SAMState(
            steps_since_sync=jnp.zeros(shape=(), dtype=jnp.int32),
            adv_state=adv_state,
            opt_state=opt_state,
            cache=None,
        )

    update_fn = opaque_update if opaque_mode else transparent_update
    return GradientTransformationExtraArgs(init_fn, update_fn)
