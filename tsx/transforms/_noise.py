"""Annealed Gaussian gradient noise (``add_noise``)."""


import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import numerics
from tsx._base import GradientTransformation
from tsx.validation import (
    NON_NEGATIVE,
    hyperparameters,
    integer,
    optional,
    prng_key,
)

__all__ = ["AddNoiseState", "add_noise"]


class AddNoiseState(NamedTuple):
    """State of :func:`add_noise`: the step count and the PRNG key for the next step."""

    count: jax.Array  # int32 scalar
    rng_key: jax.Array  # a typed key (jax.random.key)


def _as_typed_key(key: jax.Array | int) -> jax.Array:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.key(key)


def _normal_like(key: jax.Array, tree):
    # One subkey per leaf, in flattening order, each leaf sampled in its own
    # dtype and sharding: the same draws as Optax's tree.random_like.
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    noise = [
        jax.random.normal(k, x.shape, x.dtype, out_sharding=jax.typeof(x).sharding)
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, noise)


@hyperparameters(
    eta=NON_NEGATIVE,
    gamma=NON_NEGATIVE,
    key=optional(prng_key()),
    seed=optional(integer()),
)
def add_noise(
    eta: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """Add Gaussian noise with an annealed variance to the updates.

    At step ``t = 1, 2, ...``: ``u <- u + sigma_t * n`` with ``n ~ N(0, I)``
    and ``sigma_t^2 = eta / t^gamma`` (Neelakantan et al., 2015, "Adding
    Gradient Noise Improves Learning for Very Deep Networks",
    arXiv:1511.06807, which uses ``gamma = 0.55``). The key is split at every
    step; the same key gives the same noise as Optax.

    Args:
      eta: the initial variance (>= 0).
      gamma: the annealing exponent (>= 0).
      key: a PRNG key (``jax.random.key``) or an integer seed. ``None`` warns
        and uses seed 0, as Optax does.
      seed: deprecated spelling of an integer ``key``.

    Returns:
      A :class:`~tsx.GradientTransformation` with state :class:`AddNoiseState`.
    """
    if seed is not None:
        warnings.warn(
            'add_noise: "seed" is deprecated, pass key= instead.',
            DeprecationWarning,
            stacklevel=2,
        )
        if key is not None:
            raise ValueError(
                f"add_noise takes key or seed, not both; got key={key!r}, "
                f"seed={seed!r}."
            )
        key = seed
    if key is None:
        warnings.warn(
            "add_noise: no key given, using seed 0; pass key= (it will be required).",
            stacklevel=2,
        )
        key = 0

    def init_fn(params):
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_as_typed_key(key))

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        std = jnp.sqrt(eta / count**gamma)
        rng_key, sample_key = jax.random.split(state.rng_key)
        noise = _normal_like(sample_key, updates)
        new = jax.tree.map(lambda u, n: u + std * n, updates, noise)
        return new, AddNoiseState(count=count, rng_key=rng_key)

    return GradientTransformation(init_fn, update_fn)
