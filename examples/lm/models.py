"""A pre-LN decoder-only transformer in Linen, its layers under ``nn.scan``.

Scanned layers store each parameter once with a leading ``layers`` axis (a
``(layers, in, out)`` kernel), which is what the matrix optimizers' dimension
numbers are for: each layer's slice is its own matrix.

Every kernel and embedding names its axes (``nn.with_logical_partitioning``:
``embed`` for the model width, ``hidden``, ``vocab``, ``context``, ``layers``);
the training loop maps these names to mesh axes, e.g. ``embed`` to ``data``
for parameters split over the data-parallel devices (FSDP).

``decode=True`` builds the same model (the same params) for sampling with a
key/value cache (the ``"cache"`` collection): each call takes the next
tokens, attends to every cached position and appends its own keys and
values, so each new byte costs one position's work instead of a window's.
``dtype`` is the compute dtype (``bfloat16`` for mixed precision); params
stay float32 and the logits come back in float32.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _dense(features: int, axes: tuple[str, str], name: str, dtype) -> nn.Dense:
    init = nn.with_logical_partitioning(nn.linear.default_kernel_init, axes)
    return nn.Dense(features, use_bias=False, kernel_init=init, dtype=dtype, name=name)


class Block(nn.Module):
    """``x + attention(LN(x))``, then ``x + MLP(LN(x))``; causal attention."""

    width: int
    heads: int
    context: int = 128
    decode: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, _: None = None) -> tuple[jax.Array, None]:
        b, t, d = x.shape
        h = nn.LayerNorm(dtype=self.dtype, name="attn_norm")(x)
        qkv = _dense(3 * d, ("embed", "hidden"), "qkv", self.dtype)(h)
        q, k, v = jnp.split(qkv.reshape(b, t, 3 * self.heads, d // self.heads), 3, 2)
        if self.decode:
            k, v, causal = self._cached(k, v)
        else:
            causal = jnp.tril(jnp.ones((t, t), bool))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // self.heads)
        scores = jnp.where(causal, scores.astype(jnp.float32), -1e9)
        weights = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
        y = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d)
        x = x + _dense(d, ("hidden", "embed"), "proj", self.dtype)(y)
        h = nn.LayerNorm(dtype=self.dtype, name="mlp_norm")(x)
        h = nn.gelu(_dense(4 * d, ("embed", "hidden"), "up", self.dtype)(h))
        return x + _dense(d, ("hidden", "embed"), "down", self.dtype)(h), None

    def _cached(self, k: jax.Array, v: jax.Array) -> tuple[jax.Array, ...]:
        """Keys and values of every cached position, and which each query sees."""
        b, t, heads, dh = k.shape
        shape = (b, self.context, heads, dh)
        keys = self.variable("cache", "keys", jnp.zeros, shape, k.dtype)
        values = self.variable("cache", "values", jnp.zeros, shape, v.dtype)
        index = self.variable("cache", "index", lambda: jnp.zeros([], jnp.int32))
        i = index.value
        keys.value = jax.lax.dynamic_update_slice(keys.value, k, (0, i, 0, 0))
        values.value = jax.lax.dynamic_update_slice(values.value, v, (0, i, 0, 0))
        index.value = i + t
        causal = jnp.arange(self.context)[None, :] <= (i + jnp.arange(t))[:, None]
        return keys.value, values.value, causal


class Transformer(nn.Module):
    """Token and position embeddings, ``layers`` blocks, a final norm, logits.

    ``tied``: the logits are the final features times the token embedding
    (``Embed.attend``); otherwise a separate ``head`` kernel. ``scan=False``
    builds the same model with one parameter tree per layer (``layer_0``,
    ...), for comparing optimizers' per-layer treatment.
    """

    vocab: int = 256
    width: int = 128
    layers: int = 4
    heads: int = 4
    context: int = 128
    tied: bool = True
    scan: bool = True
    decode: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        embed = nn.Embed(
            self.vocab,
            self.width,
            dtype=self.dtype,
            embedding_init=nn.with_logical_partitioning(
                nn.linear.default_embed_init, ("vocab", "embed")
            ),
            name="embed",
        )
        pos = self.param(
            "pos",
            nn.with_logical_partitioning(
                nn.initializers.normal(0.02), ("context", "embed")
            ),
            (self.context, self.width),
        )
        t = tokens.shape[1]
        if self.decode:  # the positions after those already cached
            start = self.variable("cache", "start", lambda: jnp.zeros([], jnp.int32))
            positions = start.value + jnp.arange(t)
            start.value = start.value + t
        else:
            positions = jnp.arange(t)
        x = embed(tokens) + jnp.take(pos, positions, axis=0).astype(self.dtype)
        block = dict(context=self.context, decode=self.decode, dtype=self.dtype)
        if self.scan:
            layers = nn.scan(
                Block,
                variable_axes={"params": 0, "cache": 0},
                split_rngs={"params": True},
                length=self.layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )
            x, _ = layers(self.width, self.heads, **block, name="layers")(x, None)
        else:
            for i in range(self.layers):
                x, _ = Block(self.width, self.heads, **block, name=f"layer_{i}")(x)
        x = nn.LayerNorm(dtype=self.dtype, name="final_norm")(x)
        if self.tied:
            return embed.attend(x).astype(jnp.float32)
        head = _dense(self.vocab, ("embed", "vocab"), "head", self.dtype)
        return head(x).astype(jnp.float32)


def unscanned(params: dict, layers: int) -> dict:
    """The params of ``scan=False`` from those of ``scan=True`` (same numbers)."""
    out = {k: v for k, v in params.items() if k != "layers"}
    for i in range(layers):
        out[f"layer_{i}"] = jax.tree.map(lambda x, i=i: x[i], params["layers"])
    return out
