"""Tiny Linen models with every parameter kind the mask helpers must recognise."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


class Zoo(nn.Module):
    """Embed -> Conv -> BatchNorm/GroupNorm -> Dense -> LayerNorm/RMSNorm -> Dense."""

    @nn.compact
    def __call__(self, tokens: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Embed(num_embeddings=11, features=8)(tokens)  # (B, L, 8)
        x = nn.Conv(features=8, kernel_size=(3,))(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.GroupNorm(num_groups=2)(x)
        x = nn.relu(x).mean(axis=1)
        x = nn.Dense(6)(x)
        x = nn.LayerNorm()(x)
        x = nn.RMSNorm(name="final_norm")(x)
        return nn.Dense(3, name="head")(x)


# Initialised once under jit: eager Linen init dispatches hundreds of tiny ops.
@functools.cache
def zoo_variables(seed: int = 0) -> dict:
    tokens = jnp.zeros((2, 5), jnp.int32)
    return jax.jit(Zoo().init)(jax.random.PRNGKey(seed), tokens)


class Muonish(nn.Module):
    """A small transformer-like stack: embedding, 2-D kernels, biases, norms."""

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = nn.Embed(num_embeddings=13, features=8, name="token_embedding")(tokens)
        x = nn.LayerNorm(name="ln")(x)
        x = nn.Dense(16, name="mlp_in")(x)
        x = nn.gelu(x)
        x = nn.Dense(8, name="mlp_out")(x)
        return nn.Dense(13, use_bias=False, name="unembed")(x)


@functools.cache
def muonish_params(seed: int = 0) -> dict:
    tokens = jnp.zeros((2, 4), jnp.int32)
    return jax.jit(Muonish().init)(jax.random.PRNGKey(seed), tokens)["params"]
