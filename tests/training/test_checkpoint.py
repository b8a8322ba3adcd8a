"""Orbax round trips: k steps, save, restore fresh, k more == 2k steps straight."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import tsx
from tests.training.models import (
    ConvBN,
    convbn_variables,
    cross_entropy,
    image_batch,
    mlp_params,
)

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

    (_, stats), grads = state.value_and_grad(
        loss_fn, has_aux=True, return_finite=False
    )(state.params)
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


# Every combination of the optional pieces (batch stats, EMA, accumulation,
# guard without / with a loss scale, telemetry), on a tiny model: each
# restores bit for bit and continues like the run that never stopped.
GUARDS = ("none", "skip_nonfinite", "loss_scale")
COMBINATIONS = [
    (stats, ema, accumulate, guard, telemetry)
    for stats in (False, True)
    for ema in (False, True)
    for accumulate in (False, True)
    for guard in GUARDS
    for telemetry in (False, True)
]


COMBINATION_TX = tsx.adam(1e-2)


def _combination_state(stats, ema, accumulate, guard, telemetry):
    params = mlp_params()
    return tsx.training.TrainState.create(
        apply_fn=None,
        params=params,
        tx=COMBINATION_TX,
        batch_stats={"m": jnp.zeros(3)} if stats else None,
        ema_decay=0.9 if ema else None,
        accumulate_steps=2 if accumulate else None,
        skip_nonfinite=guard == "skip_nonfinite",
        loss_scale=tsx.training.DynamicLossScale(2.0**6)
        if guard == "loss_scale"
        else None,
        telemetry=telemetry,
    )


def _combination_grads(i):
    params = mlp_params()
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.1 * (i + 1)), params)
    if i == 2:  # a non-finite micro-batch: skipped where a guard is on
        grads["Dense_1"]["bias"] = grads["Dense_1"]["bias"].at[0].set(jnp.nan)
    return grads


def _combination_id(combination):
    names = ("stats", "ema", "accum", combination[3], "telemetry")
    on = (*combination[:3], combination[3] != "none", combination[4])
    return "-".join(n for n, flag in zip(names, on, strict=True) if flag) or "plain"


@pytest.mark.parametrize("combination", COMBINATIONS, ids=_combination_id)
def test_every_feature_combination_restores_and_continues_bit_for_bit(
    tmp_path, combination
):
    stats = combination[0]
    step = jax.jit(
        lambda s, g, i: s.apply_gradients(
            grads=g, batch_stats={"m": jnp.full(3, i)} if stats else None
        )
    )

    def run(state, start, stop):
        for i in range(start, stop):
            state = step(state, _combination_grads(i), float(i))
        return state

    first = run(_combination_state(*combination), 0, 3)
    with ocp.CheckpointManager(tmp_path) as manager:
        manager.save(3, args=ocp.args.StandardSave(first))
        manager.wait_until_finished()
        restored = manager.restore(
            3, args=ocp.args.StandardRestore(_combination_state(*combination))
        )
    _assert_bitwise_equal(restored, first)
    _assert_bitwise_equal(run(restored, 3, 5), run(first, 3, 5))
    # The pieces that are off have no leaves at all.
    for piece, on in zip(
        ("batch_stats", "ema", "accumulation", "guard", "telemetry"),
        (*combination[:3], combination[3] != "none", combination[4]),
        strict=True,
    ):
        assert (getattr(restored, piece) is not None) == on, piece
