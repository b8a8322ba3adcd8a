"""Gradient accumulation: k micro-batches of SGD == one step on the whole batch."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close
from tests.training.models import (
    MLP,
    ConvBN,
    convbn_variables,
    cross_entropy,
    image_batch,
    mlp_params,
    regression_batch,
)


def _mlp_case():
    model = MLP()

    def loss(params, batch):
        return cross_entropy(model.apply({"params": params}, batch["x"]), batch["y"])

    return model, mlp_params(), loss, lambda i: regression_batch(i, n=12)


def _conv_case():
    model, variables = ConvBN(), convbn_variables()

    def loss(params, batch):
        logits = model.apply(
            {"params": params, "batch_stats": variables["batch_stats"]},
            batch["x"],
            train=False,
        )
        return cross_entropy(logits, batch["y"])

    return model, variables["params"], loss, lambda i: image_batch(i, n=6)


def _split(batch, k):
    return [jax.tree.map(lambda v, j=j: jnp.split(v, k)[j], batch) for j in range(k)]


@pytest.mark.parametrize("case", [_mlp_case, _conv_case], ids=["dense", "conv"])
def test_k_micro_batches_of_sgd_equal_one_step_on_the_concatenated_batch(case):
    model, params, loss, make_batch = case()
    k, windows = 3, 2
    tx = tsx.sgd(0.1, momentum=0.9)
    accum = tsx.training.TrainState.create(
        apply_fn=model.apply, params=params, tx=tx, accumulate_steps=k
    )
    whole = tsx.training.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

    @jax.jit
    def micro_step(state, batch):
        return state.apply_gradients(grads=jax.grad(loss)(state.params, batch))

    applied = []
    for w in range(windows):
        batch = make_batch(w)
        for micro in _split(batch, k):
            accum = micro_step(accum, micro)
            applied.append(bool(accum.update_applied))
        whole = micro_step(whole, batch)
        assert int(accum.step) == int(whole.step) == w + 1
        assert int(accum.micro_step) == 0
        assert_trees_close(accum.params, whole.params, rtol=1e-5, atol=1e-6)
    assert applied == [False, False, True] * windows


def test_matches_optax_multisteps_with_a_schedule_of_k():
    params = mlp_params()
    model = MLP()
    k_schedule = lambda step: jnp.where(step < 2, 2, 3)  # noqa: E731
    state = tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=params,
        tx=tsx.adam(3e-2),
        accumulate_steps=k_schedule,
    )
    multi = optax.MultiSteps(optax.adam(3e-2), every_k_schedule=k_schedule)
    ref_params, ref_state = params, multi.init(params)

    def loss(p, batch):
        return cross_entropy(model.apply({"params": p}, batch["x"]), batch["y"])

    step = jax.jit(lambda s, b: s.apply_gradients(grads=jax.grad(loss)(s.params, b)))

    @jax.jit
    def ref_step(p, s, batch):
        u, s = multi.update(jax.grad(loss)(p, batch), s, p)
        return optax.apply_updates(p, u), s

    for i in range(10):
        batch = regression_batch(i)
        state = step(state, batch)
        ref_params, ref_state = ref_step(ref_params, ref_state, batch)
        assert int(state.step) == int(ref_state.gradient_step), i
        assert int(state.micro_step) == int(ref_state.mini_step), i
        assert bool(state.update_applied) == bool(multi.has_updated(ref_state)), i
        assert_trees_close(state.params, ref_params, msg=f"call {i}")
    # Windows of 2, 2, then 3: updates after calls 2, 4, 7 and 10.
    assert int(state.step) == 4


def test_step_counts_updates_and_batch_stats_follow_every_call():
    variables = convbn_variables()
    model = ConvBN()
    state = tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=tsx.sgd(0.1),
        accumulate_steps=2,
    )

    @jax.jit
    def train_step(state, batch):
        def loss_fn(params):
            logits, upd = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                batch["x"],
                mutable=["batch_stats"],
            )
            return cross_entropy(logits, batch["y"]), upd["batch_stats"]

        (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(grads=grads, batch_stats=stats), stats

    steps, micro = [], []
    for i in range(5):
        before = state.params
        state, stats = train_step(state, image_batch(i))
        steps.append(int(state.step))
        micro.append(int(state.micro_step))
        np.testing.assert_array_equal(
            state.batch_stats["BatchNorm_0"]["mean"], stats["BatchNorm_0"]["mean"]
        )
        moved = not np.array_equal(
            before["Dense_0"]["kernel"], state.params["Dense_0"]["kernel"]
        )
        assert moved == bool(state.update_applied) == (i % 2 == 1)
    assert steps == [0, 1, 1, 2, 2]
    assert micro == [1, 0, 1, 0, 1]


def test_accumulator_is_reset_after_each_window():
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(1.0), accumulate_steps=2
    )
    ones = jax.tree.map(jnp.ones_like, params)
    for _ in range(2):
        state = state.apply_gradients(grads=ones)
    assert all(not np.any(x) for x in jax.tree.leaves(state.grad_accum))
    state = state.apply_gradients(grads=jax.tree.map(lambda x: 4 * x, ones))
    # Running mean of one micro-batch is that micro-batch's gradient.
    assert all(np.all(np.asarray(x) == 4) for x in jax.tree.leaves(state.grad_accum))
