"""The MNIST example: learning on real data, logs, checkpoints, resume, errors."""

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings

import jax
import numpy as np
import optax
import pytest
import tensorflow as tf

import tsx
from examples.mnist import train
from examples.mnist.configs import default
from tests.examples.mnist.conftest import REPO_ROOT, run_main
from tests.oracle import assert_trees_close, state_layout


def _event_tags(workdir):
    tags = set()
    for path in workdir.glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def _equal(a, b):
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_one_epoch_on_real_images_learns_and_logs(small_config, tmp_path):
    small_config.schedule = "cosine"
    state, history = train.train_and_evaluate(small_config, str(tmp_path))
    (record,) = history
    assert record["epoch"] == 1 and int(state.step) == 640 // 32
    # 500 real test images: chance is 10%, and ln(10) the loss of guessing.
    assert record["test_accuracy"] > 0.5
    assert record["test_loss"] < 0.6 * math.log(10)
    assert record["train_loss"] < math.log(10)
    # TensorBoard: per-epoch metrics, the loss and learning rate per log
    # interval, CLU's progress and the hyperparameters.
    tags = _event_tags(tmp_path)
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= tags
    assert {"train_step_loss", "learning_rate", "steps_per_sec"} <= tags
    assert any(t.startswith("_hparams_") for t in tags)
    assert (tmp_path / "checkpoints" / "1").is_dir()


def _learning_rates(workdir):
    found = {}
    for path in workdir.glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "learning_rate":
                    found[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def test_the_logged_learning_rate_is_the_schedule(small_config, tmp_path):
    small_config.schedule = "cosine"
    train.train_and_evaluate(small_config, str(tmp_path))
    schedule = optax.cosine_decay_schedule(0.1, 20)
    logged = _learning_rates(tmp_path)
    assert sorted(logged) == [10, 20]
    for step, value in logged.items():
        assert value == pytest.approx(float(schedule(step - 1)))


class _Interrupted(Exception):
    pass


def test_rerun_after_an_interruption_ends_like_an_uninterrupted_run(
    small_config, tmp_path, monkeypatch
):
    small_config.num_epochs = 2
    small_config.ema_decay = 0.9  # the EMA is checkpointed and restored too
    full, full_history = train.train_and_evaluate(small_config, str(tmp_path / "full"))

    real_train_epoch = train.train_epoch

    def dies_in_epoch_2(state, split, config, epoch, *args):
        if epoch == 2:
            raise _Interrupted
        return real_train_epoch(state, split, config, epoch, *args)

    monkeypatch.setattr(train, "train_epoch", dies_in_epoch_2)
    with pytest.raises(_Interrupted):
        train.train_and_evaluate(small_config, str(tmp_path / "rerun"))
    monkeypatch.setattr(train, "train_epoch", real_train_epoch)

    state, history = train.train_and_evaluate(small_config, str(tmp_path / "rerun"))
    assert [r["epoch"] for r in history] == [2]
    assert history[0] == full_history[1]
    assert _equal(state, full)
    # Finished: nothing is trained again.
    again, none = train.train_and_evaluate(small_config, str(tmp_path / "rerun"))
    assert none == [] and _equal(again, full)


def test_a_corrupt_newest_checkpoint_resumes_from_the_previous_good_one(
    small_config, tmp_path
):
    small_config.num_epochs = 2
    straight, _ = train.train_and_evaluate(small_config, str(tmp_path / "straight"))
    workdir = tmp_path / "run"
    small_config.num_epochs = 1
    train.train_and_evaluate(small_config, str(workdir))
    small_config.num_epochs = 2
    train.train_and_evaluate(small_config, str(workdir))
    # 64 flipped bytes in every array file of the newest checkpoint.
    for path in (workdir / "checkpoints" / "2" / "state").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            data = bytearray(path.read_bytes())
            for offset in range(0, min(len(data), 64 * 7), 7):
                data[offset] ^= 0x5A
            path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checkpoint step 2 is corrupt"):
        state, history = train.train_and_evaluate(small_config, str(workdir))
    # Resumed after epoch 1 and trained epoch 2 again, like the straight run.
    assert [r["epoch"] for r in history] == [2]
    assert all(np.isfinite(v) for v in history[0].values())
    assert _equal(state, straight)
    steps = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    assert steps == ["1", "2", "corrupt"]  # the good step kept, the bad set aside


def test_a_checkpoint_of_another_config_is_a_mismatch(small_config, tmp_path):
    train.train_and_evaluate(small_config, str(tmp_path))
    small_config.ema_decay = 0.9
    small_config.num_epochs = 2
    with pytest.raises(tsx.training.CheckpointMismatchError, match="ema"):
        train.train_and_evaluate(small_config, str(tmp_path))


def _kernels_only(params):
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _run(tx, params, steps=3):
    update = jax.jit(tx.update)
    state = tx.init(params)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        grads = jax.tree.map(
            lambda p: rng.normal(size=p.shape).astype(np.float32), params
        )
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


_PARAMS = {
    "Conv_0": {
        "kernel": np.ones((3, 3, 1, 4), np.float32),
        "bias": np.ones(4, np.float32),
    },
    "Dense_0": {"kernel": np.ones((6, 3), np.float32), "bias": np.ones(3, np.float32)},
}


@pytest.mark.parametrize(
    "overrides, make_optax",
    [
        ({}, lambda: optax.sgd(0.1, momentum=0.9)),
        (
            dict(optimizer="adamw", learning_rate=1e-3, weight_decay=1e-4),
            lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=_kernels_only),
        ),
        (
            dict(weight_decay=5e-2, weight_decay_mode="l2"),
            lambda: optax.chain(
                optax.add_decayed_weights(5e-2, mask=_kernels_only),
                optax.sgd(0.1, momentum=0.9),
            ),
        ),
        (
            dict(schedule="warmup_cosine", warmup_epochs=0.4),
            lambda: optax.sgd(
                optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 10 * 5), momentum=0.9
            ),
        ),
    ],
    ids=["default", "adamw", "sgd_l2", "warmup_cosine"],
)
def test_optimizer_from_config_matches_optax(overrides, make_optax):
    config = default.get_config()
    config.update(overrides)
    ours = train.create_optimizer(config, steps_per_epoch=5)
    our_params, our_state = _run(ours, _PARAMS)
    their_params, their_state = _run(make_optax(), _PARAMS)
    assert_trees_close(our_params, their_params)
    assert state_layout(our_state) == state_layout(their_state)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(learning_rate=-0.1), "learning_rate=-0.1"),
        (dict(optimizer="sgdd"), "Did you mean 'sgd'"),
        (dict(schedule="triangle"), "schedule='triangle'"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(ema_decay=1.5), "ema_decay=1.5"),
        (dict(optimizer="adamw", weight_decay=0.1, weight_decay_mode="L2"), "'l2'"),
    ],
)
def test_bad_config_values_are_named_before_any_data(overrides, match):
    config = default.get_config()
    config.update(overrides)
    with pytest.raises(train.ConfigError, match=match):
        train.check_config(config)


def test_switching_optimizer_leaves_the_defaults_kwargs_behind():
    config = default.get_config()
    config.update(dict(optimizer="adamw", learning_rate=1e-3))
    train.check_config(config)  # SGD's momentum is not passed to AdamW


# -- The command line ------------------------------------------------------------

FAILURES = {
    "negative_lr": (["--config.learning_rate=-0.1"], "learning_rate=-0.1"),
    "unknown_optimizer": (["--config.optimizer=adamm"], "Unknown optimizer 'adamm'"),
    "misspelt_key": (["--config.learnig_rate=0.1"], 'Did you mean "learning_rate"'),
    "bad_number": (["--config.batch_size=abc"], "batch_size"),
    "missing_data": (["--config.data_dir=/nonexistent/mnist"], "/nonexistent/mnist"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_bad_command_fails_in_one_line_without_debris(case, tmp_path, mnist_5k_dir):
    args, expected = FAILURES[case]
    workdir = tmp_path / "workdir"
    data = (
        []
        if any("data_dir" in a for a in args)
        else [f"--config.data_dir={mnist_5k_dir}"]
    )
    code, output = run_main(f"--workdir={workdir}", *data, *args)
    lines = output.strip().splitlines()
    assert code == 1, output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert expected in lines[0]
    assert not workdir.exists()


def test_damaged_data_and_an_unwritable_workdir_fail_in_one_line(
    tmp_path, mnist_5k_dir
):
    data = tmp_path / "data"
    data.mkdir()
    for path in mnist_5k_dir.glob("*.gz"):
        (data / path.name).write_bytes(path.read_bytes())
    damaged = data / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    code, output = run_main(f"--workdir={tmp_path / 'w'}", f"--config.data_dir={data}")
    assert code == 1 and output.strip().splitlines() == [output.strip()], output
    assert f"cannot read {damaged}" in output and "Traceback" not in output
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, output = run_main(
        f"--workdir={blocker / 'w'}", f"--config.data_dir={mnist_5k_dir}"
    )
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert f"cannot write to the workdir {blocker}" in output


def test_the_first_override_a_user_tries_works(tmp_path, mnist_5k_dir):
    code, output = run_main(
        f"--workdir={tmp_path}",
        f"--config.data_dir={mnist_5k_dir}",
        "--config.optimizer=adamw",
        "--config.learning_rate=1e-3",
        "--config.num_epochs=1",
        "--config.max_train_examples=640",
        "--config.max_eval_examples=500",
    )
    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 2  # the data line and one line for the epoch
    assert "epoch 1/1: train_loss" in lines[1]
    assert "oneDNN" not in output and "TPU" not in output


def test_killed_runs_resume_bit_for_bit(tmp_path, mnist_5k_dir, small_config):
    args = [
        f"--config.data_dir={mnist_5k_dir}",
        "--config.num_epochs=3",
        "--config.max_train_examples=640",
        "--config.max_eval_examples=500",
        "--config.batch_size=32",
    ]
    code, output = run_main(f"--workdir={tmp_path / 'straight'}", *args)
    assert code == 0, output
    workdir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.mnist.main", f"--workdir={workdir}", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (workdir / "checkpoints" / "1").is_dir() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # A save that was killed midway leaves Orbax's temporary folder behind.
    partial = workdir / "checkpoints" / "2.orbax-checkpoint-tmp-1"
    partial.mkdir(exist_ok=True)
    (partial / "_CHECKPOINT_METADATA").write_text('{"item_han')
    code, output = run_main(f"--workdir={workdir}", *args)
    assert code == 0, output
    # Both runs' last checkpoints hold the same state, bit for bit.
    small_config.num_epochs = 3
    target = train.create_train_state(
        small_config, train.create_optimizer(small_config, steps_per_epoch=20)
    )
    restored = []
    for run in ("straight", "killed"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with tsx.training.CheckpointManager(tmp_path / run / "checkpoints") as m:
                restored.append(m.restore(target, step=3))
    assert _equal(*restored)


def test_sigint_stops_between_steps_and_a_rerun_resumes(
    small_config, tmp_path, monkeypatch
):
    small_config.num_epochs = 2
    full, _ = train.train_and_evaluate(small_config, str(tmp_path / "full"))
    saved = json.loads((tmp_path / "full" / "config.json").read_text())
    assert saved["num_epochs"] == 2 and saved["batch_size"] == 32
    real_train_step = train.train_step
    calls = []

    def interrupted_at_step_25(state, batch):
        calls.append(1)
        if len(calls) == 25:  # in epoch 2 (20 steps per epoch)
            os.kill(os.getpid(), signal.SIGINT)
        return real_train_step(state, batch)

    monkeypatch.setattr(train, "train_step", interrupted_at_step_25)
    with pytest.raises(train.Interrupted) as stopped:
        train.train_and_evaluate(small_config, str(tmp_path / "cut"))
    assert str(stopped.value).startswith(
        "interrupted at step 25; rerun to resume from step 20"
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(train, "train_step", real_train_step)
    resumed, history = train.train_and_evaluate(small_config, str(tmp_path / "cut"))
    assert [r["epoch"] for r in history] == [2] and _equal(resumed, full)
