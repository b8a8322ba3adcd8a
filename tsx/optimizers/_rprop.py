"""Rprop: per-parameter step sizes driven by the sign of the gradient.

Riedmiller & Braun (1993), "A direct adaptive method for faster
backpropagation learning: the RPROP algorithm", ICNN; the variant here
(no step after a sign change) is iRprop- of Igel & Hüsken (2003),
"Empirical evaluation of the improved Rprop learning algorithms".

Each coordinate keeps a step size :math:`\\Delta`. With
:math:`s = g_t\\, g_{t-1}` (``g_{t-1}`` the previous step's signed update),

.. math::

   \\Delta_t = \\begin{cases}
     \\mathrm{clip}(\\eta^+ \\Delta_{t-1}, \\Delta_{min}, \\Delta_{max}) & s > 0 \\\\
     \\mathrm{clip}(\\eta^- \\Delta_{t-1}, \\Delta_{min}, \\Delta_{max}) & s < 0 \\\\
     \\Delta_{t-1} & s = 0
   \\end{cases}

and the signed step is :math:`\\Delta_t\\,\\mathrm{sign}(g_t)`, or zero after a
sign change (the stored step is then reset to zero so the next comparison is
skipped). As in Optax 0.2.8, the update returned at call :math:`t` is the
signed step stored at call :math:`t-1` (zero at the first call).
"""


from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, GradientTransformationExtraArgs, Updates
from tsx._combine import chain
from tsx.transforms import scale
from tsx.validation import (
    NON_NEGATIVE,
    hyperparameters,
)

__all__ = ["ScaleByRpropState", "rprop", "scale_by_rprop"]


class ScaleByRpropState(NamedTuple):
    """State of :func:`scale_by_rprop`: per-coordinate step sizes, last update."""

    step_sizes: Updates
    prev_updates: Updates


@hyperparameters(
    learning_rate=NON_NEGATIVE,
    eta_minus=NON_NEGATIVE,
    eta_plus=NON_NEGATIVE,
    min_step_size=NON_NEGATIVE,
    max_step_size=NON_NEGATIVE,
)
def scale_by_rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> GradientTransformation:
    """Replace updates by Rprop's signed per-coordinate steps (positive sign).

    Args:
      learning_rate: the initial step size of every coordinate.
      eta_minus: factor applied to a step size when its gradient flips sign.
      eta_plus: factor applied when the gradient keeps its sign.
      min_step_size: lower clip of the step sizes.
      max_step_size: upper clip of the step sizes.
    """

    def init_fn(params):
        return ScaleByRpropState(
            step_sizes=tu.tree_full_like(params, learning_rate),
            prev_updates=tu.tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        agree = jax.tree.map(jnp.multiply, updates, state.prev_updates)

        def new_size(s, size):
            factor = jnp.where(s > 0, eta_plus, eta_minus)
            grown = jnp.clip(size * factor, min=min_step_size, max=max_step_size)
            return jnp.where(s == 0, size, grown)

        step_sizes = jax.tree.map(new_size, agree, state.step_sizes)
        # After a sign change the step is skipped and the memory cleared, so the
        # next comparison sees s == 0 and keeps the (already reduced) size.
        signed = jax.tree.map(
            lambda s, g, size: jnp.where(s < 0, jnp.zeros_like(g), size * jnp.sign(g)),
            agree,
            updates,
            step_sizes,
        )
        # Optax 0.2.8 returns the signed step stored at the *previous* call
        # (zeroed after a sign change), so the first update is zero and the
        # steps lag one call behind the step sizes. tsx keeps that behaviour so
        # trajectories and checkpoints match Optax exactly.
        out = jax.tree.map(
            lambda s, old: jnp.where(s < 0, jnp.zeros_like(old), old),
            agree,
            state.prev_updates,
        )
        return out, ScaleByRpropState(step_sizes=step_sizes, prev_updates=signed)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    learning_rate=NON_NEGATIVE,
    eta_minus=NON_NEGATIVE,
    eta_plus=NON_NEGATIVE,
    min_step_size=NON_NEGATIVE,
    max_step_size=NON_NEGATIVE,
)
def rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> GradientTransformationExtraArgs:
    r"""Rprop: sign steps whose per-coordinate sizes adapt to sign changes.

    .. math::

       \delta_t = \begin{cases}
         \min(\eta^+ \delta_{t-1}, \delta_{max}) & g_t g_{t-1} > 0, \\
         \max(\eta^- \delta_{t-1}, \delta_{min}) & g_t g_{t-1} < 0
           \text{ (and } g_t \text{ is treated as 0)}, \\
         \delta_{t-1} & \text{otherwise,}
       \end{cases} \qquad
       u_t = -\delta_t\, \mathrm{sign}(g_t),

    with :math:`\delta_0` = ``learning_rate``. Meant for full-batch gradients.

    Args:
      learning_rate: :math:`\delta_0` >= 0, the initial step size (a number).
      eta_minus: :math:`\eta^-` >= 0, shrink factor after a sign change.
        Default 0.5.
      eta_plus: :math:`\eta^+` >= 0, growth factor while the sign holds.
        Default 1.2.
      min_step_size: :math:`\delta_{min}` >= 0. Default 1e-6.
      max_step_size: :math:`\delta_{max}` >= 0. Default 50.

    Returns:
      A transformation with state ``(ScaleByRpropState(step_sizes,
      prev_updates), ScaleState())``.

    References:
      Riedmiller & Braun, "A direct adaptive method for faster backpropagation
      learning: the RPROP algorithm", ICNN 1993; Igel & Hüsken, "Empirical
      evaluation of the improved Rprop learning algorithms", Neurocomputing 50
      (2003).

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.rprop(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(
        scale_by_rprop(
            learning_rate=learning_rate,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        ),
        scale(-1.0),
    )
