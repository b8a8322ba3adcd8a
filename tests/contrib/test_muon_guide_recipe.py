"""The usage guide's Muon recipe, run as written (with tsx for optax).

``get_muon_optimizer`` below is the guide's code with ``optax`` replaced by
``tsx``: Muon (through ``muon.muon(..., momentum=...)``) on 2-D non-embedding
weights, AdamW on the rest, routed by ``tsx.partition(condition=...)``.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import tsx
from tsx.contrib import muon


def get_muon_optimizer(learning_rate, weight_decay=1e-4):
    # 1. Define Mask for Muon (Only 2D weights, exclude embeddings/biases)
    def is_muon_param(path, param):
        # Example heuristic: Any 2D parameter that is not an embedding
        return param.ndim == 2 and "embedding" not in str(path).lower()

    # 2. Define Gradient Transformations
    # Muon for 2D weights
    muon_tx = muon.muon(
        learning_rate=learning_rate,
        momentum=0.95,
        nesterov=True,
        ns_steps=5,  # Number of Newton-Schulz steps
    )
    # AdamW for everything else (biases, layer norms, embeddings)
    adamw_tx = tsx.adamw(learning_rate=learning_rate, weight_decay=weight_decay)
    # 3. Combine using multi_transform (or partition)
    optimizer = tsx.partition(
        condition=is_muon_param,
        true_gradient_transform=muon_tx,
        false_gradient_transform=adamw_tx,
    )
    return optimizer


class TokenMLP(nn.Module):
    @nn.compact
    def __call__(self, tokens):
        h = nn.Embed(num_embeddings=12, features=8)(tokens).mean(axis=1)
        h = nn.relu(nn.Dense(16)(h))
        return nn.Dense(3)(h)


def test_guide_recipe_trains_a_linen_mlp_with_an_embedding():
    tokens = jax.random.randint(jax.random.PRNGKey(0), (64, 4), 0, 12)
    labels = (tokens[:, 0] + tokens[:, 1]) % 3
    model = TokenMLP()
    params = model.init(jax.random.PRNGKey(1), tokens)["params"]
    tx = get_muon_optimizer(learning_rate=0.02)
    state = tx.init(params)

    # The split the guide asks for: the two Dense kernels go to Muon; the
    # embedding table (2-D too) and the biases go to AdamW.
    muon_state = state.inner_states[True].inner_state
    mu = muon_state.inner_states["muon"].inner_state[0].mu
    assert mu["Dense_0"]["kernel"].shape == (8, 16)
    assert mu["Dense_1"]["kernel"].shape == (16, 3)
    assert isinstance(mu["Embed_0"]["embedding"], tsx.MaskedNode)
    assert isinstance(mu["Dense_0"]["bias"], tsx.MaskedNode)
    adam_mu = state.inner_states[False].inner_state[0].mu
    assert adam_mu["Embed_0"]["embedding"].shape == (12, 8)
    assert isinstance(adam_mu["Dense_0"]["kernel"], tsx.MaskedNode)

    def loss_fn(p):
        logits = model.apply({"params": p}, tokens)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @jax.jit
    def train_step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = tx.update(grads, s, p)
        return tsx.apply_updates(p, updates), s, loss

    losses = []
    for _ in range(60):
        params, state, loss = train_step(params, state)
        losses.append(float(loss))
    assert all(jnp.isfinite(jnp.asarray(losses)))
    # It learns: the loss falls well below its start, and keeps falling.
    assert losses[-1] < 0.65 * losses[0], losses
    assert losses[-1] < losses[30] < losses[0], losses
