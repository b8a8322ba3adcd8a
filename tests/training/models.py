"""Tiny Linen models and data for the TrainState tests (initialised under jit)."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class MLP(nn.Module):
    """Dense -> LayerNorm -> Dense: the smallest model with a norm layer."""

    features: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Dense(self.features, dtype=self.dtype)(x)
        x = nn.LayerNorm(dtype=self.dtype)(x)
        return nn.Dense(3, dtype=self.dtype)(nn.tanh(x))


class ConvBN(nn.Module):
    """Conv -> BatchNorm -> Dense, with a ``batch_stats`` collection."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        x = nn.Conv(4, kernel_size=(3, 3), dtype=self.dtype)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.8, dtype=self.dtype)(
            x
        )
        x = nn.relu(x).mean(axis=(1, 2))
        return nn.Dense(3, dtype=self.dtype)(x)


@functools.cache
def mlp_params(seed: int = 0, dtype=jnp.float32) -> dict:
    x = jnp.zeros((2, 5), jnp.float32)
    return jax.jit(MLP(dtype=dtype).init)(jax.random.PRNGKey(seed), x)["params"]


@functools.cache
def convbn_variables(seed: int = 0, dtype=jnp.float32) -> dict:
    x = jnp.zeros((2, 6, 6, 2), jnp.float32)
    return jax.jit(ConvBN(dtype=dtype).init)(jax.random.PRNGKey(seed), x)


def regression_batch(seed: int, n: int = 8) -> dict:
    """``x`` of shape (n, 5) and integer labels in [0, 3)."""
    rng = np.random.default_rng(seed)
    return {
        "x": jnp.asarray(rng.normal(size=(n, 5)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, 3, size=(n,)), jnp.int32),
    }


def image_batch(seed: int, n: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x": jnp.asarray(rng.normal(size=(n, 6, 6, 2)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, 3, size=(n,)), jnp.int32),
    }


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy written out by hand (no library under test)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))
