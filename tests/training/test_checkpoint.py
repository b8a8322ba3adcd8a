"""Orbax round trips: k steps, save, restore fresh, k more == 2k steps straight."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import tsx
from tests.training.models import ConvBN, convbn_variables, cross_entropy, image_batch

# One model and one optimizer object, so that every fresh state has the same
# static parts (and the jitted step compiles once).
MODEL = ConvBN()
TX = tsx.inject_hyperparams(tsx.adamw)(
    learning_rate=lambda c: 1e-2 * 0.9**c, weight_decay=1e-3
)


def _fresh_state():
    variables = convbn_variables()
    return tsx.training.TrainState.create(
        apply_fn=MODEL.apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=TX,
        ema_decay=0.9,
        ema_warmup=True,
        accumulate_steps=3,
        loss_scale=tsx.training.DynamicLossScale(2.0**10, growth_interval=3),
    )


@jax.jit
def _train_step(state, batch):
    def loss_fn(params):
        logits, upd = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            batch["x"],
            mutable=["batch_stats"],
        )
        return cross_entropy(logits, batch["y"]), upd["batch_stats"]

    (_, stats), grads, _ = state.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(grads=grads, batch_stats=stats)


def _batch(i):
    batch = image_batch(i)
    if i == 4:  # one overflowing micro-batch: a skipped window and a back-off
        batch = {"x": batch["x"].at[0, 0, 0, 0].set(jnp.inf), "y": batch["y"]}
    return batch


def _run(state, start, stop):
    for i in range(start, stop):
        state = _train_step(state, _batch(i))
    return state


def _assert_bitwise_equal(a, b):
    pa, ta = jax.tree_util.tree_flatten_with_path(a)
    pb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb
    for (path, x), (_, y) in zip(pa, pb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("k", [4, 6])
def test_save_restore_continues_bit_for_bit(tmp_path, k):
    straight = _run(_fresh_state(), 0, 2 * k)

    first = _run(_fresh_state(), 0, k)
    # k=4 stops one micro-batch into a window; k=6 right after an update.
    assert int(first.micro_step) == k % 3
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save(k, args=ocp.args.StandardSave(first))
        manager.wait_until_finished()

    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        assert manager.latest_step() == k
        restored = manager.restore(k, args=ocp.args.StandardRestore(_fresh_state()))
    assert isinstance(restored, tsx.training.TrainState)
    _assert_bitwise_equal(restored, first)
    resumed = _run(restored, k, 2 * k)

    _assert_bitwise_equal(resumed, straight)
    # The run really exercised the features being checkpointed.
    assert int(straight.skipped_steps) == 1
    assert float(straight.loss_scale.scale) == 2.0**9  # backed off once
    assert int(straight.step) == (2 * k) // 3 - 1


def test_restore_from_abstract_target(tmp_path):
    state = _run(_fresh_state(), 0, 4)
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save(4, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _fresh_state())
        restored = manager.restore(4, args=ocp.args.StandardRestore(abstract))
    _assert_bitwise_equal(restored, state)
