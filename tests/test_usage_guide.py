"""Every code block of the Optax usage guide, run with tsx in place of optax.

The guide is ``../shared/seed/optax-usage-guide.txt``. Each test runs a block
with ``tsx`` and the same block with ``optax`` and compares the numbers. Two
known differences from the guide's text: ``nnx.Optimizer`` takes ``wrt=`` and
``optimizer.update(model, grads)`` in today's Flax, and the guide's comment that
``ema`` in a chain averages weights is wrong (it averages updates) — the test
checks what ``ema`` really does.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax import nnx
from flax.training import train_state

import tsx
from tests.oracle import assert_trees_close, compare_with_optax


def _run_both(make, params, grads_seq):
    """Apply the same gradient sequence through tsx and optax; return both params."""
    out = []
    for lib in (tsx, optax):
        tx = make(lib)
        state = tx.init(params)
        p = params
        for g in grads_seq:
            updates, state = tx.update(g, state, p)
            p = lib.apply_updates(p, updates)
        out.append(p)
    return out


def test_basic_step():
    # "An optimizer in Optax is a pair of pure functions" block.
    params = {"w": jnp.ones((10,))}
    grads = {"w": jnp.array([0.1] * 10)}
    results = []
    for lib in (tsx, optax):
        optimizer = lib.adam(learning_rate=1e-3)
        opt_state = optimizer.init(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        results.append(lib.apply_updates(params, updates))
    assert_trees_close(*results)
    # One Adam step moves every weight by lr * sign(g) (bias-corrected m/sqrt(v)).
    np.testing.assert_allclose(results[0]["w"], 1 - 1e-3, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.sgd(learning_rate=0.1, momentum=0.9, nesterov=True),
        lambda lib: lib.adam(learning_rate=1e-3),
        lambda lib: lib.adamw(learning_rate=1e-3, weight_decay=1e-4),
        lambda lib: lib.rmsprop(learning_rate=1e-3, decay=0.9),
        lambda lib: lib.adafactor(learning_rate=1e-3),
        lambda lib: lib.lion(learning_rate=1e-4),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop", "adafactor", "lion"],
)
def test_optimizer_constructors(make):
    compare_with_optax(make)


def test_schedule_injected_into_optimizer():
    def make(lib):
        schedule = lib.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=1e-3,
            warmup_steps=1000,
            decay_steps=10000,
            end_value=1e-5,
        )
        return lib.adamw(learning_rate=schedule, weight_decay=1e-4)

    compare_with_optax(make)
    for lib in (tsx, optax):
        s = lib.warmup_cosine_decay_schedule(0.0, 1e-3, 1000, 10000, 1e-5)
        np.testing.assert_allclose(s(500), 5e-4, rtol=1e-6)
        np.testing.assert_allclose(s(10000), 1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.constant_schedule(0.3),
        lambda lib: lib.cosine_decay_schedule(init_value=1.0, decay_steps=100),
        lambda lib: lib.linear_schedule(
            init_value=1.0, end_value=0.1, transition_steps=50
        ),
        lambda lib: lib.exponential_decay(
            init_value=1.0, decay_rate=0.5, transition_steps=10
        ),
        lambda lib: lib.join_schedules(
            [lib.linear_schedule(0.0, 1.0, 10), lib.constant_schedule(1.0)], [10]
        ),
    ],
    ids=["constant", "cosine", "linear", "exponential", "join"],
)
def test_common_schedules(make):
    steps = jnp.arange(0, 150, 7)
    np.testing.assert_allclose(
        jax.vmap(make(tsx))(steps), jax.vmap(make(optax))(steps), rtol=1e-6, atol=1e-7
    )


def test_chain_clip_adamw_ema():
    def make(lib):
        return lib.chain(
            lib.clip_by_global_norm(1.0),
            lib.adamw(learning_rate=1e-3, weight_decay=1e-4),
            lib.ema(decay=0.999),
        )

    compare_with_optax(make, steps=6)
    # What ema in a chain really does: the emitted updates are the debiased EMA
    # of adamw's updates, not an average of weights. With one step the debiased
    # EMA equals the update itself.
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, 0.5])}
    tx = make(tsx)
    updates, _ = tx.update(grads, tx.init(params), params)
    plain = tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(1e-3, weight_decay=1e-4))
    ref, _ = plain.update(grads, plain.init(params), params)
    # (1 - 0.999) is inexact in float32, hence the tolerance.
    np.testing.assert_allclose(updates["w"], ref["w"], rtol=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.clip(0.05),
        lambda lib: lib.clip_by_global_norm(0.5),
        lambda lib: lib.add_decayed_weights(1e-2),
        lambda lib: lib.scale_by_adam(),
        lambda lib: lib.scale(-0.1),
    ],
    ids=[
        "clip",
        "clip_by_global_norm",
        "add_decayed_weights",
        "scale_by_adam",
        "scale",
    ],
)
def test_common_transformations(make):
    compare_with_optax(make)


def test_losses():
    key = jax.random.PRNGKey(0)
    logits = jax.random.normal(key, (4, 5))
    labels = jax.nn.one_hot(jnp.array([0, 3, 1, 4]), 5)
    int_labels = jnp.array([0, 3, 1, 4])
    preds = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    targets = jax.random.normal(jax.random.PRNGKey(2), (4, 5))
    binary = (targets > 0).astype(jnp.float32)
    for name, args, kwargs in [
        ("softmax_cross_entropy", (logits, labels), {}),
        ("softmax_cross_entropy_with_integer_labels", (logits, int_labels), {}),
        ("sigmoid_binary_cross_entropy", (logits, binary), {}),
        ("l2_loss", (preds, targets), {}),
        ("huber_loss", (preds, targets), {"delta": 1.0}),
        ("cosine_distance", (preds, targets), {}),
    ]:
        ours = getattr(tsx, name)(*args, **kwargs)
        theirs = getattr(optax, name)(*args, **kwargs)
        assert ours.shape == theirs.shape, name  # element-wise, not reduced
        np.testing.assert_allclose(jnp.mean(ours), jnp.mean(theirs), rtol=1e-6)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=name)
    # l2_loss is 0.5 * (x - y)^2, as the guide says.
    np.testing.assert_allclose(
        tsx.l2_loss(preds, targets), 0.5 * (preds - targets) ** 2
    )


class MyModel(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(nn.relu(nn.Dense(16)(x)))


def test_flax_train_state():
    class TrainState(train_state.TrainState):
        pass

    model = MyModel()
    rng = jax.random.PRNGKey(0)
    input_data = jax.random.normal(rng, (8, 4))
    batch = {"x": input_data, "y": jnp.array([0, 1, 2, 0, 1, 2, 0, 1])}
    params = model.init(rng, input_data)

    def train_step(state, batch, lib):
        def loss_fn(params):
            logits = state.apply_fn(params, batch["x"])
            return lib.softmax_cross_entropy_with_integer_labels(
                logits, batch["y"]
            ).mean()

        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)

    finals = []
    for lib in (tsx, optax):
        state = TrainState.create(
            apply_fn=model.apply, params=params, tx=lib.adam(1e-3)
        )
        for _ in range(5):
            state = train_step(state, batch, lib)
        finals.append(state.params)
        assert int(state.step) == 5
    assert_trees_close(*finals)


class NnxModel(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)


def test_nnx_optimizer():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 4))
    y = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
    results = []
    for lib in (tsx, optax):
        model = NnxModel(rngs=nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, lib.adam(1e-3), wrt=nnx.Param)

        @nnx.jit
        def train_step(model, optimizer, x, y):
            def loss_fn(model):
                pred = model(x)
                return lib.l2_loss(pred, y).mean()

            loss, grads = nnx.value_and_grad(loss_fn)(model)
            optimizer.update(model, grads)
            return loss

        losses = [float(train_step(model, optimizer, x, y)) for _ in range(5)]
        results.append((losses, nnx.state(model, nnx.Param)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    assert results[0][0][-1] < results[0][0][0]
    assert_trees_close(jax.tree.leaves(results[0][1]), jax.tree.leaves(results[1][1]))


def test_masking_with_multi_transform():
    def no_decay_mask(params):
        flat_params = flax.traverse_util.flatten_dict(params)
        flat_mask = {path: (path[-1] != "bias") for path in flat_params}
        return flax.traverse_util.unflatten_dict(flat_mask)

    def map_nested_structure_to_labels(params):
        mask = no_decay_mask(params)
        return jax.tree.map(lambda m: "decay" if m else "no_decay", mask)

    params = MyModel().init(jax.random.PRNGKey(0), jnp.ones((1, 4)))["params"]

    def make(lib):
        return lib.multi_transform(
            {
                "decay": lib.adamw(1e-3, weight_decay=1e-4),
                "no_decay": lib.adam(1e-3),
            },
            param_labels=map_nested_structure_to_labels,
        )

    compare_with_optax(make, params=params)


def test_multi_steps_gradient_accumulation():
    def make(lib):
        return lib.MultiSteps(lib.adam(1e-3), every_k_schedule=4)

    state, _ = compare_with_optax(make, steps=8)
    assert int(state.gradient_step) == 2
    # Nothing moves on the three micro-steps before each update.
    tx = make(tsx)
    params = {"w": jnp.ones(3)}
    s = tx.init(params)
    for i in range(4):
        u, s = tx.update({"w": jnp.full(3, 0.5)}, s, params)
        moved = bool(jnp.any(u["w"] != 0))
        assert moved == (i == 3)


def get_muon_optimizer(lib_muon, lib, learning_rate, weight_decay=1e-4):
    # The guide's recipe, verbatim apart from the module names.
    def is_muon_param(path, param):
        return param.ndim == 2 and "embedding" not in str(path).lower()

    muon_tx = lib_muon.muon(
        learning_rate=learning_rate, momentum=0.95, nesterov=True, ns_steps=5
    )
    adamw_tx = lib.adamw(learning_rate=learning_rate, weight_decay=weight_decay)
    return lib.partition(
        condition=is_muon_param,
        true_gradient_transform=muon_tx,
        false_gradient_transform=adamw_tx,
    )


class EmbedMLP(nn.Module):
    @nn.compact
    def __call__(self, tokens):
        h = nn.Embed(16, 8)(tokens).mean(axis=1)
        h = nn.relu(nn.Dense(32)(h))
        return nn.Dense(4)(h)


def test_muon_recipe_matches_optax_labels():
    from tsx.contrib import muon

    model = EmbedMLP()
    tokens = jax.random.randint(jax.random.PRNGKey(0), (32, 5), 0, 16)
    labels = tokens[:, 0] % 4
    params = model.init(jax.random.PRNGKey(1), tokens)["params"]

    def is_muon_param(path, param):
        return param.ndim == 2 and "embedding" not in str(path).lower()

    # The same split in Optax's own form: labels from the predicate, multi_transform.
    optax_labels = jax.tree_util.tree_map_with_path(is_muon_param, params)
    oracle = optax.multi_transform(
        {
            True: optax.contrib.muon(
                learning_rate=0.02, beta=0.95, nesterov=True, ns_steps=5
            ),
            False: optax.adamw(learning_rate=0.02, weight_decay=1e-4),
        },
        optax_labels,
    )
    ours = get_muon_optimizer(muon, tsx, 0.02)

    def loss(p):
        logits = model.apply({"params": p}, tokens)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    grad_fn = jax.jit(jax.value_and_grad(loss))
    p_a = p_b = params
    s_a, s_b = ours.init(params), oracle.init(params)
    losses = []
    for _ in range(20):
        l_a, g_a = grad_fn(p_a)
        _, g_b = grad_fn(p_b)
        u_a, s_a = ours.update(g_a, s_a, p_a)
        u_b, s_b = oracle.update(g_b, s_b, p_b)
        p_a, p_b = tsx.apply_updates(p_a, u_a), optax.apply_updates(p_b, u_b)
        losses.append(float(l_a))
    # Newton-Schulz iterations in float32 amplify rounding: allow 1e-4 over 20 steps.
    assert_trees_close(p_a, p_b, rtol=1e-4, atol=1e-4)
    assert losses[-1] < 0.8 * losses[0]
