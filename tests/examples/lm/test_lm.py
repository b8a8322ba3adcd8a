"""The language-model example on real text (tiny configs, a few dozen steps)."""

import math
import socket

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from examples.lm import input_pipeline, models, train
from examples.lm.configs import tiny
from tests.devices import run_with_cpu_devices

DATA = "../shared/data/pystdlib-chars"


def _config(**overrides):
    config = tiny.get_config()
    config.data_dir = DATA
    for k, v in overrides.items():
        config[k] = v
    return config


def test_loss_falls_on_real_text(tmp_path):
    _, history = train.train_and_evaluate(_config(), str(tmp_path))
    # Uniform over 256 bytes is ln 256 = 5.55 nats; 40 steps learn the
    # character frequencies and more.
    assert history[-1]["valid_loss"] < 0.6 * math.log(256), history
    assert history[-1]["valid_loss"] < history[0]["valid_loss"], history
    assert isinstance(history[-1]["sample"], str) and history[-1]["sample"]


def test_resume_after_a_crash_is_bit_for_bit(tmp_path, monkeypatch):
    config = _config(num_steps=20, eval_every_steps=10, sample_chars=0)
    whole, _ = train.train_and_evaluate(config, str(tmp_path / "whole"))
    real = input_pipeline.train_batch

    def crash_after_15(text, step, config):
        if step > 15:
            raise RuntimeError("preempted")
        return real(text, step, config)

    monkeypatch.setattr(input_pipeline, "train_batch", crash_after_15)
    with pytest.raises(RuntimeError, match="preempted"):
        train.train_and_evaluate(config, str(tmp_path / "resumed"))
    monkeypatch.setattr(input_pipeline, "train_batch", real)
    resumed, history = train.train_and_evaluate(config, str(tmp_path / "resumed"))
    assert [h["step"] for h in history] == [20]  # from the step-10 checkpoint
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_offline_without_data_fails_at_once_with_advice(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise socket.gaierror("offline")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(input_pipeline.DataError, match="offline.*--config.data_dir"):
        input_pipeline.load(_config(data_dir=None))


@pytest.mark.parametrize("name", train.MATRIX_OPTIMIZERS)
@pytest.mark.parametrize("bits", [32, 8])
def test_each_optimizer_config_builds_and_steps(name, bits):
    config = _config(optimizer=name, state_bits=bits)
    train.check_config(config)
    mesh = jax.make_mesh((1,), ("data",))
    with jax.set_mesh(mesh):
        state = train.create_train_state(config, mesh)
        batch = input_pipeline.train_batch(np.arange(256, dtype=np.uint8), 1, config)
        new, _ = train.train_step(state, jnp.asarray(batch))  # lr 0: warm-up
        new, step_metrics = train.train_step(new, jnp.asarray(batch))
    assert np.isfinite(float(step_metrics.compute()["loss"]))
    moved = [
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(
            jax.tree.leaves(new.params), jax.tree.leaves(state.params), strict=True
        )
    ]
    assert max(moved) > 0


def test_bad_config_names_the_field():
    with pytest.raises(train.ConfigError, match="optimizer='lamb'"):
        train.check_config(_config(optimizer="lamb"))
    with pytest.raises(train.ConfigError, match="config.width=30"):
        train.check_config(_config(width=30, heads=4))


@pytest.mark.parametrize("name", ["muon", "soap"])
def test_scanned_layers_get_the_update_of_separate_layers(name):
    # Per-layer matrices: the stacked kernels' update equals that of the
    # unscanned model's layer kernels, run as separate leaves. SOAP
    # preconditions the 32-wide sides only: their statistics have full rank,
    # so the eigenbases are unique (a rank-deficient side's null-space basis
    # is arbitrary, and SOAP's step depends on it; see tsx.contrib.soap).
    config = _config(optimizer=name, grad_clip=0.0)
    if name == "soap":
        config.optimizer_kwargs = {"max_precond_dim": 32}
    params, _ = train.initial_params(config)
    flat = models.unscanned(params, config.layers)
    rng = np.random.default_rng(0)
    grads = [
        jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        for _ in range(3)
    ]
    tx = train.create_optimizer(config)
    s_scan, s_flat = tx.init(params), tx.init(flat)
    for g in grads:
        u_scan, s_scan = jax.jit(tx.update)(g, s_scan, params)
        u_flat, s_flat = jax.jit(tx.update)(
            models.unscanned(g, config.layers), s_flat, flat
        )
    want = models.unscanned(u_scan, config.layers)
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(want)[0],
        jax.tree.leaves(u_flat),
        strict=True,
    ):
        np.testing.assert_allclose(
            a, b, rtol=1e-4, atol=1e-6, err_msg=jax.tree_util.keystr(path)
        )


EIGHT = """
import json, sys
sys.path.insert(0, ".")
import jax
from examples.lm import train
from examples.lm.configs import tiny
config = tiny.get_config()
config.data_dir = "../shared/data/pystdlib-chars"
config.num_steps, config.eval_every_steps, config.sample_chars = 3, 1, 0
config.warmup_steps = 1
config.optimizer = "adamw"
losses = {{}}
for name, zero, fsdp in {runs!r}:
    config.zero_axis, config.fsdp = zero, fsdp
    state, history = train.train_and_evaluate(config, {workdir!r} + name)
    specs = [str(p.sharding.spec) for p in jax.tree.leaves(state.params)]
    losses[name] = [[h["valid_loss"] for h in history], specs]
print(json.dumps(losses))
"""


def test_eight_devices_with_zero_and_fsdp_equal_one_device(tmp_path):
    one = run_with_cpu_devices(
        EIGHT.format(runs=[("one", None, False)], workdir=str(tmp_path)), count=1
    )["one"]
    eight = run_with_cpu_devices(
        EIGHT.format(
            runs=[("zero", "data", False), ("fsdp", "data", True)],
            workdir=str(tmp_path),
        ),
        count=8,
    )
    for name in ("zero", "fsdp"):
        np.testing.assert_allclose(eight[name][0], one[0], rtol=1e-5, err_msg=name)
    # ZeRO leaves the params replicated; FSDP splits the width axes.
    assert all(spec == "P()" for spec in eight["zero"][1])
    # Embeddings and the four stacked kernels (width 32 splits 8 ways).
    assert sum("data" in spec for spec in eight["fsdp"][1]) == 6, eight["fsdp"][1]
