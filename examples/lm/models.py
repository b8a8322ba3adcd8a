"""A pre-LN decoder-only transformer in Linen, its layers under ``nn.scan``.

Scanned layers store each parameter once with a leading ``layers`` axis (a
``(layers, in, out)`` kernel), which is what the matrix optimizers' dimension
numbers are for: each layer's slice is its own matrix.

Every kernel and embedding names its axes (``nn.with_logical_partitioning``:
``embed`` for the model width, ``hidden``, ``vocab``, ``context``, ``layers``);
the training loop maps these names to mesh axes, e.g. ``embed`` to ``data``
for parameters split over the data-parallel devices (FSDP).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _dense(features: int, axes: tuple[str, str], name: str) -> nn.Dense:
    init = nn.with_logical_partitioning(nn.linear.default_kernel_init, axes)
    return nn.Dense(features, use_bias=False, kernel_init=init, name=name)


class Block(nn.Module):
    """``x + attention(LN(x))``, then ``x + MLP(LN(x))``; causal attention."""

    width: int
    heads: int

    @nn.compact
    def __call__(self, x: jax.Array, _: None = None) -> tuple[jax.Array, None]:
        b, t, d = x.shape
        h = nn.LayerNorm(name="attn_norm")(x)
        qkv = _dense(3 * d, ("embed", "hidden"), "qkv")(h)
        q, k, v = jnp.split(qkv.reshape(b, t, 3 * self.heads, d // self.heads), 3, 2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // self.heads)
        causal = jnp.tril(jnp.ones((t, t), bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, -1e9), axis=-1)
        y = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d)
        x = x + _dense(d, ("hidden", "embed"), "proj")(y)
        h = nn.LayerNorm(name="mlp_norm")(x)
        h = nn.gelu(_dense(4 * d, ("embed", "hidden"), "up")(h))
        return x + _dense(d, ("hidden", "embed"), "down")(h), None


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

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        embed = nn.Embed(
            self.vocab,
            self.width,
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
        x = embed(tokens) + pos[: tokens.shape[1]]
        if self.scan:
            layers = nn.scan(
                Block,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                length=self.layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )
            x, _ = layers(self.width, self.heads, name="layers")(x, None)
        else:
            for i in range(self.layers):
                x, _ = Block(self.width, self.heads, name=f"layer_{i}")(x)
        x = nn.LayerNorm(name="final_norm")(x)
        if self.tied:
            return embed.attend(x)
        return _dense(self.vocab, ("embed", "vocab"), "head")(x)


def unscanned(params: dict, layers: int) -> dict:
    """The params of ``scan=False`` from those of ``scan=True`` (same numbers)."""
    out = {k: v for k, v in params.items() if k != "layers"}
    for i in range(layers):
        out[f"layer_{i}"] = jax.tree.map(lambda x, i=i: x[i], params["layers"])
    return out
