"""Differentially private gradient aggregation (DP-SGD).

Abadi et al. (2016), "Deep Learning with Differential Privacy",
arXiv:1607.00133. Each example's gradient :math:`g_b` (the whole tree, one
vector) is clipped to norm at most :math:`C`, the clipped gradients are
summed, Gaussian noise of standard deviation :math:`\\sigma C` is added, and
the result is averaged over the batch of :math:`B` examples:

.. math::

   \\tilde g = \\frac{1}{B}\\left(\\sum_b g_b \\min\\!\\left(1,
   \\frac{C}{\\|g_b\\|}\\right) + \\mathcal{N}(0, \\sigma^2 C^2 I)\\right).

The gradients given to ``update`` must be per-example: every leaf has the
batch on axis 0 (for example from ``jax.vmap(jax.grad(loss))``).
"""


import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx._base import GradientTransformation, ScalarOrSchedule, identity
from tsx._combine import chain
from tsx.experimental.aggregating import Aggregator
from tsx.transforms import per_example_global_norm_clip, scale_by_learning_rate, trace
from tsx.validation import (
    BOOL,
    DECAY,
    LEARNING_RATE,
    NON_NEGATIVE,
    hyperparameters,
    integer,
    optional,
    prng_key,
)

__all__ = [
    "DifferentiallyPrivateAggregateState",
    "differentially_private_aggregate",
    "dpsgd",
]


class DifferentiallyPrivateAggregateState(NamedTuple):
    """State of :func:`differentially_private_aggregate`: the PRNG key."""

    rng_key: jax.Array


def _as_key(key: jax.Array | int) -> jax.Array:
    """A typed PRNG key from a typed key, a raw ``uint32[2]`` key or a seed."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, jax.Array) and key.shape == (2,) and key.dtype == jnp.uint32:
        # tsx leniency: an old-style jax.random.PRNGKey(seed) is wrapped too.
        return jax.random.wrap_key_data(key)
    return jax.random.key(key)


@hyperparameters(
    l2_norm_clip=NON_NEGATIVE,
    noise_multiplier=NON_NEGATIVE,
    key=optional(prng_key()),
    seed=optional(integer()),
)
def differentially_private_aggregate(
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """Clip per-example gradients, sum, add Gaussian noise, average.

    Args:
      l2_norm_clip: :math:`C`, the bound on each example's gradient norm.
      noise_multiplier: :math:`\\sigma`, noise std relative to :math:`C`.
      key: PRNG key (typed, or a seed int) for the noise. Defaults to
        ``jax.random.key(0)`` with a warning.
      seed: deprecated spelling of an int ``key``.

    The output has no batch axis. State: the PRNG key, split every step.
    """
    if seed is not None:
        warnings.warn(
            '"seed" is deprecated; pass key=jax.random.key(seed) (or the int as key).',
            DeprecationWarning,
            stacklevel=2,
        )
        if key is not None:
            raise ValueError(
                f"pass only one of key and seed, got key={key!r} and seed={seed!r}."
            )
        key = jax.random.key(seed)
    if key is None:
        warnings.warn(
            "differentially_private_aggregate: no key given, using "
            "jax.random.key(0); pass key= to choose the noise.",
            stacklevel=2,
        )
        key = jax.random.key(0)
    key = _as_key(key)
    noise_std = l2_norm_clip * noise_multiplier

    def init_fn(params):
        del params
        return DifferentiallyPrivateAggregateState(rng_key=key)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        leaves, treedef = jax.tree.flatten(updates)
        batch = leaves[0].shape[0]
        clipped, _ = per_example_global_norm_clip(leaves, l2_norm_clip)
        new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
        noised = [
            (g + noise_std * jax.random.normal(k, g.shape, g.dtype)) / batch
            for g, k in zip(clipped, keys, strict=True)
        ]
        return jax.tree.unflatten(treedef, noised), DifferentiallyPrivateAggregateState(
            rng_key=new_key
        )

    # Fed per-example gradients: an Aggregator (a transformation whose input
    # leaves carry a batch axis), so chains do not match them to the params.
    return Aggregator(init_fn, update_fn)


@hyperparameters(
    learning_rate=LEARNING_RATE,
    l2_norm_clip=NON_NEGATIVE,
    noise_multiplier=NON_NEGATIVE,
    seed=integer(),
    momentum=optional(DECAY),
    nesterov=BOOL,
)
def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    seed: int,
    momentum: jax.typing.ArrayLike | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""DP-SGD: per-example clipping and Gaussian noise, then SGD.

    .. math::

       \tilde g = \frac{1}{B} \left(
          \sum_b g_b \min\!\left(1, \frac{C}{\lVert g_b \rVert}\right)
                  + \mathcal{N}(0, \sigma^2 C^2 I) \right), \qquad
       u = -\eta_t\, \tilde g

    (with an optional momentum on :math:`\tilde g`). The gradients given to
    ``update`` are per example: every leaf has the batch on axis 0, e.g. from
    ``jax.vmap(jax.grad(loss))``.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule.
      l2_norm_clip: :math:`C` >= 0, the bound of each example's gradient norm.
      noise_multiplier: :math:`\sigma` >= 0.
      seed: integer seed of the noise's PRNG key.
      momentum: decay in [0, 1) of a momentum; None (default): none.
      nesterov: Nesterov momentum. Default False.

    Returns:
      A transformation with state ``(DifferentiallyPrivateAggregateState(
      rng_key), trace_state, lr_state)`` (``trace_state`` is ``EmptyState()``
      without momentum).

    References:
      Abadi et al., "Deep Learning with Differential Privacy", CCS 2016,
      arXiv:1607.00133.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> xs = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
      >>> ys = xs @ jnp.array([1.0, -2.0])  # a linear model to recover
      >>> loss = lambda p, x, y: (x @ p - y) ** 2
      >>> per_example_grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))
      >>> tx = tsx.contrib.dpsgd(
      ...     learning_rate=0.1, l2_norm_clip=5.0, noise_multiplier=0.01, seed=0)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):  # grads carry a leading batch axis
      ...     updates, state = tx.update(per_example_grads(params, xs, ys), state)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(params.round(1))
      [ 1. -2.]
    """
    return chain(
        differentially_private_aggregate(
            l2_norm_clip=l2_norm_clip,
            noise_multiplier=noise_multiplier,
            key=jax.random.key(seed),
        ),
        trace(decay=momentum, nesterov=nesterov)
        if momentum is not None
        else identity(),
        scale_by_learning_rate(learning_rate),
    )
