"""The ImageNet example's training: recipe vs Optax, float16, 8 devices, 2 processes.

The multi-device runs happen in subprocesses (a JAX process's device count is
fixed when it starts), see ``multidevice_runs.py``.
"""

import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from examples.imagenet import models, train
from examples.imagenet.configs import cpu_smoke, default
from tests.oracle import assert_trees_close, state_layout

ROOT = Path(__file__).resolve().parents[3]


def _small_params():
    """Random values in the shapes of a narrow ResNet-18's parameters."""
    shapes = jax.eval_shape(
        lambda: models.ResNet18(num_classes=10, num_filters=8).init(
            jax.random.PRNGKey(0), jnp.ones((1, 32, 32, 3)), train=False
        )
    )["params"]
    rng = np.random.default_rng(0)
    return jax.tree.map(
        lambda x: rng.normal(0.0, 0.1, x.shape).astype(np.float32), shapes
    )


def _kernels(params):
    """The oracle's mask, written independently of tsx.masks: kernels only."""
    return jax.tree_util.tree_map_with_path(lambda p, _: p[-1].key == "kernel", params)


def _run(tx, params, steps=4):
    """The updates and final state of ``tx`` over ``steps`` fixed gradients."""
    rng = np.random.default_rng(1)
    grads = [
        jax.tree.map(lambda x: rng.normal(0.0, 1.0, x.shape).astype(np.float32), params)
        for _ in range(steps)
    ]
    update = jax.jit(tx.update)
    state = tx.init(params)
    out = []
    for g in grads:
        updates, state = update(g, state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        out.append(updates)
    return out, state


def test_default_recipe_is_nesterov_sgd_with_l2_on_kernels_as_in_optax():
    config = default.get_config()
    config.batch_size = 1024
    config.warmup_epochs = 0.02  # 2 of the 100 steps per epoch
    schedule = train.create_learning_rate_fn(config, steps_per_epoch=100, num_steps=10)
    # Peak 0.1 * 1024 / 256: the linear scaling rule.
    expected_schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=0.4, warmup_steps=2, decay_steps=10
    )
    for step in [0, 1, 2, 3, 7, 10, 11]:
        assert float(schedule(step)) == pytest.approx(
            float(expected_schedule(step)), rel=1e-6, abs=1e-9
        )

    params = _small_params()
    tx = train.create_optimizer(config, schedule)
    expected = optax.chain(
        optax.add_decayed_weights(1e-4, mask=_kernels(params)),
        optax.sgd(expected_schedule, momentum=0.9, nesterov=True),
    )
    (updates, state), (expected_updates, expected_state) = (
        _run(tx, params),
        _run(expected, params),
    )
    assert_trees_close(updates, expected_updates)
    assert_trees_close(state, expected_state)
    assert state_layout(state) == state_layout(expected_state)


def test_an_optimizer_with_decoupled_decay_gets_it_with_the_kernel_mask():
    config = default.get_config()
    config.optimizer = "adamw"
    config.optimizer_kwargs = {"adamw": {"b2": 0.99}}
    config.learning_rate = 1e-3
    config.base_batch_size = 0
    config.schedule = "constant"
    params = _small_params()
    tx = train.create_optimizer(config, train.create_learning_rate_fn(config, 10, 10))
    # AdamW's own decay on kernels only, and no second (L2) decay.
    expected = optax.adamw(
        optax.constant_schedule(1e-3),
        b2=0.99,
        weight_decay=1e-4,
        mask=_kernels(params),
    )
    (updates, state), (expected_updates, expected_state) = (
        _run(tx, params),
        _run(expected, params),
    )
    assert_trees_close(updates, expected_updates)
    assert state_layout(state) == state_layout(expected_state)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("optimizer", "sgdd", "'sgdd'"),
        ("optimizer_kwargs", {"sgd": {"momentun": 0.9}}, "momentun"),
        ("learning_rate", -0.1, "learning_rate=-0.1"),
        ("model", "ResNet19", "'ResNet19'"),
        ("schedule", "linear", "'linear'"),
        ("dtype", "float8", "'float8'"),
        ("state_sharding", "zero3", "'zero3'"),
        ("batch_size", 0, "batch_size=0"),
        ("weight_decay_mode", "decoupled", "sgd has no decoupled weight decay"),
    ],
)
def test_check_config_names_the_bad_setting(field, value, named):
    config = default.get_config()
    config[field] = value
    with pytest.raises(train.ConfigError, match=named):
        train.check_config(config)


def test_switching_optimizer_leaves_the_default_kwargs_behind():
    config = default.get_config()
    config.update(optimizer="adamw", learning_rate=1e-3)
    train.check_config(config)  # SGD's momentum is not passed to AdamW
    params = _small_params()
    tx = train.create_optimizer(config, 1e-3)
    expected = optax.adamw(1e-3, weight_decay=1e-4, mask=_kernels(params))
    (updates, _), (expected_updates, _) = _run(tx, params), _run(expected, params)
    assert_trees_close(updates, expected_updates)


class _TinyNet(nn.Module):
    """A convolution, BatchNorm and a classifier: the train step's interface."""

    dtype: Any = jnp.float16

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        x = nn.Conv(4, (3, 3), dtype=self.dtype)(jnp.asarray(x, self.dtype))
        x = nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(x)
        x = nn.Dense(10, dtype=self.dtype)(x.mean(axis=(1, 2)))
        return x.astype(jnp.float32)


def test_float16_steps_that_overflow_are_skipped_and_back_off_the_scale():
    config = cpu_smoke.get_config()
    config.update(dtype="float16", image_size=8, ema_decay=0.5)
    tx = train.create_optimizer(config, 0.1)
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.standard_normal((4, 8, 8, 3)).astype(np.float16),
        "label": np.arange(4, dtype=np.int32),
    }
    step = jax.jit(functools.partial(train.train_step, learning_rate_fn=lambda s: 0.1))

    config.loss_scale_init = 2.0**40
    state = jax.jit(
        functools.partial(train.create_train_state, config, _TinyNet(), tx)
    )()

    # 2**40 * dloss/dlogits overflows float16 on the way back: skipped.
    assert state.skip_nonfinite and state.loss_scale is not None
    new, step_metrics = step(state, batch)
    assert int(new.step) == 0 and int(new.skipped_steps) == 1
    assert float(new.loss_scale.scale) == 2.0**39
    for before, after in [
        (state.params, new.params),
        (state.batch_stats, new.batch_stats),
        (state.ema_params, new.ema_params),
        (state.opt_state, new.opt_state),
    ]:
        assert_trees_close(after, before, rtol=0, atol=0)
    summary = step_metrics.compute()
    assert isinstance(step_metrics, train.LossScaledTrainMetrics)
    assert float(summary["loss_scale"]) == 2.0**40
    assert float(summary["skipped_steps"]) == 1
    assert np.isfinite(float(summary["loss"]))

    # A moderate scale: the step is applied, everything moves.
    state = state.replace(
        guard=state.guard.replace(loss_scale=tsx.training.DynamicLossScale(2.0**8))
    )
    new, step_metrics = step(state, batch)
    assert int(new.step) == 1 and int(new.skipped_steps) == 0
    assert float(new.loss_scale.scale) == 2.0**8
    kernel = "Conv_0", "kernel"
    before = state.params[kernel[0]][kernel[1]]
    assert not np.allclose(new.params[kernel[0]][kernel[1]], before)
    assert not np.allclose(
        new.batch_stats["BatchNorm_0"]["mean"], state.batch_stats["BatchNorm_0"]["mean"]
    )


# --------------------------------------------------------------------------
# Several devices and processes (subprocesses).


def _start(args, devices, cache_dir):
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(
        [
            env.get("XLA_FLAGS", ""),
            f"--xla_force_host_platform_device_count={devices}",
            # Unoptimised machine code compiles in about half the time; these
            # runs check behaviour, never speed.
            "--xla_backend_optimization_level=0",
        ]
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    # Runs of one process that build the same programs compile them once.
    env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    return subprocess.Popen(
        [sys.executable, "-m", "tests.examples.imagenet.multidevice_runs", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc, timeout=900):
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError("subprocess timed out:\n" + output[-5000:]) from None
    assert proc.returncode == 0, output[-8000:]
    return output


def test_eight_devices_train_evaluate_and_resume_after_sigterm(tmp_path):
    _finish(_start(["eight_devices", str(tmp_path)], 8, tmp_path / "cache"))
    r = json.loads((tmp_path / "result.json").read_text())
    assert r["device_count"] == 8

    # Train and eval steps ran on TFDS mock data; the losses are finite.
    train_records = [h for h in r["full_history"] if "train_loss" in h]
    (eval_record,) = [h for h in r["full_history"] if "eval_loss" in h]
    assert [h["step"] for h in train_records] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(h["train_loss"]) for h in train_records)
    assert eval_record["step"] == 6
    for name in ("loss", "accuracy", "top5_accuracy"):
        assert np.isfinite(eval_record[f"eval_{name}"])
        assert np.isfinite(eval_record[f"eval_ema_{name}"])
    assert eval_record["eval_ema_loss"] != eval_record["eval_loss"]
    assert 0 <= eval_record["eval_accuracy"] <= eval_record["eval_top5_accuracy"] <= 1
    # CLU wrote the same figures to TensorBoard, and the progress reports.
    tags = set(r["event_tags"])
    assert {"train_loss", "train_learning_rate", "eval_ema_top5_accuracy"} <= tags
    assert "steps_per_sec" in tags  # CLU's ReportProgress
    assert any(t.startswith("_hparams_") for t in tags)
    assert {int(k): v for k, v in r["full_workdir_losses"].items()} == {
        h["step"]: pytest.approx(h["train_loss"], rel=1e-6) for h in train_records
    }
    assert r["checkpoints_full"] == ["6"]

    # The state was sharded as configured: large kernels split over the data
    # axis, small arrays (BatchNorm, the first blocks' kernels) replicated.
    specs = r["param_specs"]
    assert specs["BasicBlock_7/Conv_1/kernel"] == "P(None, None, 'data', None)"
    assert specs["Dense_0/kernel"] == "P(None, 'data')"
    assert specs["BasicBlock_0/Conv_0/kernel"] == "P()"  # 576 < shard_min_size
    assert specs["BasicBlock_7/BatchNorm_1/scale"] == "P()"
    assert "P(None, None, 'data', None)" in r["opt_state_specs"]

    # The configuration the run started with is in its workdir.
    assert r["saved_config_num_train_steps"] == 6
    # SIGTERM made the run save and stop early; rerunning resumed from that
    # checkpoint and ended bit for bit where the uninterrupted run did.
    stopped = r["stopped_step"]
    assert 0 < stopped < 6 and r["checkpoints_after_sigterm"] == [str(stopped)]
    assert r["interrupted_line"] == (
        f"interrupted at step {stopped}; rerun to resume from step {stopped}"
    )
    resumed_train = [h for h in r["resumed_history"] if "train_loss" in h]
    assert [h["step"] for h in resumed_train] == list(range(stopped + 1, 7))
    assert [h["train_loss"] for h in resumed_train] == [
        h["train_loss"] for h in train_records[stopped:]
    ]
    assert r["resumed_equals_full"] == {
        "params": True,
        "batch_stats": True,
        "ema": True,
        "opt_state": True,
        "step": True,
    }, r["resumed_max_param_diff"]

    # Rerunning a finished run trains nothing; another config's state is
    # refused with a message that says what to do.
    assert r["again_history"] == [] and r["again_step"] == 6
    assert "ema" in r["mismatch_error"]

    # On one fixed batch (the CPU smoke config, run from the command line),
    # the loss falls from about log(1000) step after step.
    losses = [
        v for _, v in sorted((int(k), v) for k, v in r["fixed_batch_losses"].items())
    ]
    assert len(losses) == 6 and np.all(np.isfinite(losses))
    assert abs(losses[0] - np.log(1000)) < 0.5
    assert np.all(np.diff(losses) < 0)
    assert losses[-1] < 0.8 * losses[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_of_four_devices_end_with_identical_params(tmp_path):
    port = str(_free_port())
    procs = [
        _start(["two_processes", str(tmp_path), str(i), port], 4, tmp_path / f"c{i}")
        for i in range(2)
    ]
    for proc in procs:
        _finish(proc)
    infos = [json.loads((tmp_path / f"info_{i}.json").read_text()) for i in range(2)]
    for i, info in enumerate(infos):
        assert info["process_index"] == i and info["process_count"] == 2
        assert info["device_count"] == 8 and info["local_device_count"] == 4
        assert info["step"] == 3
        assert info["sharded_leaves"] > 0
    # Both processes report the same (global) metrics.
    assert infos[0]["history"] == infos[1]["history"]
    losses = [h["train_loss"] for h in infos[0]["history"] if "train_loss" in h]
    assert len(losses) == 3 and np.all(np.isfinite(losses))

    params = [np.load(tmp_path / f"params_{i}.npz") for i in range(2)]
    assert sorted(params[0].files) == sorted(params[1].files)
    assert len(params[0].files) == 62  # ResNet-18
    for name in params[0].files:
        np.testing.assert_array_equal(params[0][name], params[1][name], err_msg=name)
    # Process 0 alone wrote the TensorBoard events; both wrote the checkpoint.
    workdir = tmp_path / "workdir"
    assert len(list(workdir.glob("events.out.tfevents*"))) == 1
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["3"]


ZERO_LAYOUT = """
import json, functools
import jax
from examples.imagenet import train
from examples.imagenet.configs import cpu_smoke

config = cpu_smoke.get_config()
config.state_sharding = "zero"
mesh = train.create_mesh()
model = train.create_model(config)
tx = train.create_optimizer(config, train.create_learning_rate_fn(config, 10, 20))
init = functools.partial(train.create_train_state, config, model, tx)
with jax.set_mesh(mesh):
    abstract = jax.eval_shape(init)
    shardings = train.state_shardings(abstract, mesh, config)
    state = jax.jit(init, out_shardings=shardings)()
print(json.dumps({
    "params": str(state.params["Dense_0"]["kernel"].sharding.spec),
    "ema": str(state.ema.params["Dense_0"]["kernel"].sharding.spec),
    "opt": sorted({str(x.sharding.spec) for x in jax.tree.leaves(state.opt_state)
                   if x.size >= 1024}),
}))
"""


def test_zero_config_keeps_params_whole_and_splits_state_and_ema():
    from tests.devices import run_with_cpu_devices

    out = run_with_cpu_devices(ZERO_LAYOUT, count=8, timeout=600)
    assert out["params"] == "P(None, None)"
    assert out["ema"] != out["params"] and "data" in out["ema"]
    assert out["opt"] and all("data" in spec for spec in out["opt"])
