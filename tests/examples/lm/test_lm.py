"""The language-model example on real text (tiny configs, a few dozen steps)."""

import json
import math
import os
import signal
import socket
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

import tsx
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
    config = _config(
        num_steps=20, eval_every_steps=10, checkpoint_every_steps=10, sample_chars=0
    )
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


def test_cached_decoding_gives_the_full_forward_logits():
    # Feeding 5 bytes, then one at a time through the key/value cache, must
    # give the logits of one forward pass over the whole window.
    config = _config()
    params, _ = train.initial_params(config)
    tokens = jax.random.randint(jax.random.key(0), (2, config.context), 0, 256)
    full = train.create_model(config).apply({"params": params}, tokens)
    model = train.create_model(config, decode=True)
    cache = model.init(jax.random.key(0), tokens)["cache"]
    cache = jax.tree.map(jnp.zeros_like, cache)
    pieces = []
    for lo, hi in [(0, 5)] + [(i, i + 1) for i in range(5, config.context)]:
        out, mutated = model.apply(
            {"params": params, "cache": cache}, tokens[:, lo:hi], mutable=["cache"]
        )
        cache = mutated["cache"]
        pieces.append(out)
    np.testing.assert_allclose(jnp.concatenate(pieces, 1), full, atol=2e-5)


def test_top_k_and_top_p_keep_the_most_likely_bytes():
    logits = jnp.log(jnp.array([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    kept = np.isfinite(np.asarray(train._keep_likely(logits, 2, 1.0)))
    assert kept.tolist() == [[True, True, False, False, False]]
    # Mass 0.5 + 0.2 = 0.7 < 0.8: the third byte is needed to reach 0.8.
    kept = np.isfinite(np.asarray(train._keep_likely(logits, 0, 0.8)))
    assert kept.tolist() == [[True, True, True, False, False]]
    # Greedy sampling picks the argmax whatever the filters.
    kept = np.isfinite(np.asarray(train._keep_likely(logits, 1, 0.1)))
    assert kept.tolist() == [[True, False, False, False, False]]


def test_sample_and_eval_modes_use_the_trained_model(tmp_path, capsys):
    config = _config(num_steps=20, sample_chars=0)
    train.train_and_evaluate(config, str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["num_steps"] == 20
    capsys.readouterr()
    texts = train.sample_from_workdir(
        _config(
            mode="sample", prompt="def ", num_samples=2, max_new_bytes=300, top_k=10
        ),
        str(tmp_path),
    )
    shown = capsys.readouterr().out
    # Longer than the 32-byte context: decoding restarts from the cache.
    assert len(texts) == 2 and all(len(t.encode()) >= 290 for t in texts), texts
    assert shown.count("--- sample") == 2 and "\ndef " in shown
    results = train.eval_from_workdir(_config(mode="eval"), str(tmp_path))
    r = results["params"]
    valid = input_pipeline.load(_config())[1]
    assert r["bytes"] == (len(valid) - 1) // 32 * 32  # every full window
    assert r["bits_per_byte"] == pytest.approx(r["nats_per_byte"] / math.log(2))
    assert r["perplexity"] == pytest.approx(math.exp(r["nats_per_byte"]))
    assert r["nats_per_byte"] < math.log(256)
    with pytest.raises(train.ConfigError, match="config.step=7"):
        train.restore_for_use(_config(step=7), str(tmp_path))


def test_interrupt_saves_the_step_and_a_rerun_resumes(tmp_path, monkeypatch):
    config = _config(num_steps=12, eval_every_steps=6, sample_chars=0)
    whole, _ = train.train_and_evaluate(config, str(tmp_path / "whole"))
    real = input_pipeline.train_batch

    def interrupt_at_5(text, step, config):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return real(text, step, config)

    monkeypatch.setattr(input_pipeline, "train_batch", interrupt_at_5)
    with pytest.raises(train.Interrupted) as stopped:
        train.train_and_evaluate(config, str(tmp_path / "cut"))
    assert str(stopped.value) == "interrupted at step 5; rerun to resume from step 5"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(input_pipeline, "train_batch", real)
    resumed, _ = train.train_and_evaluate(config, str(tmp_path / "cut"))
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # A finished run says so and evaluates again, without training.
    again, history = train.train_and_evaluate(config, str(tmp_path / "cut"))
    assert int(again.step) == 12 and [h["step"] for h in history] == [12]


def test_optimizer_arguments_from_dotted_flags(monkeypatch):
    argv = [
        "prog",
        "--config.optimizer=soap",
        "--config.optimizer_kwargs.precondition_frequency=5",
    ]
    # ml_collections reads the --config.* overrides from sys.argv on definition.
    monkeypatch.setattr(sys, "argv", argv)
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", "examples/lm/configs/tiny.py", flag_values=values, lock_config=True
    )
    values(argv)
    config = values.config
    assert train.optimizer_kwargs(config) == {"precondition_frequency": 5}
    config.data_dir = DATA
    train.check_config(config)
    config.optimizer = "muon"
    with pytest.raises(train.ConfigError, match="optimizer_kwargs.precondition_freq"):
        train.check_config(config)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", -1e-3),
        ("muon_learning_rate", -0.02),
        ("embed_lr_mult", -1.0),
        ("temperature", -1.0),
        ("top_p", 0.0),
        ("top_k", -1),
        ("accumulate_steps", 0),
        ("checkpoint_every_steps", 0),
        ("num_samples", 0),
        ("mode", "serve"),
        ("dtype", "float16"),
        ("warmup_steps", 40),
        ("master_weights", "fp8"),
    ],
)
def test_every_config_field_is_checked(field, value):
    with pytest.raises(train.ConfigError, match=f"{field}"):
        train.check_config(_config(**{field: value}))


def test_bfloat16_compute_and_accumulation_step():
    config = _config(dtype="bfloat16", accumulate_steps=2, optimizer="adamw")
    train.check_config(config)
    mesh = jax.make_mesh((1,), ("data",))
    with jax.set_mesh(mesh):
        state = train.create_train_state(config, mesh)
        batch = jnp.asarray(
            input_pipeline.train_batch(np.arange(256, dtype=np.uint8), 1, config)
        )
        state, m = train.train_step(state, batch)
        assert int(state.step) == 0  # the first of two micro-batches
        state, m = train.train_step(state, batch)
    assert int(state.step) == 1
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
    assert np.isfinite(float(m.compute()["loss"]))


def test_bfloat16_params_with_master_weights_step():
    config = _config(master_weights="bf16", state_bits=8, optimizer="muon")
    train.check_config(config)
    mesh = jax.make_mesh((1,), ("data",))
    with jax.set_mesh(mesh):
        state = train.create_train_state(config, mesh)
        batch = jnp.asarray(
            input_pipeline.train_batch(np.arange(256, dtype=np.uint8), 1, config)
        )
        new, _ = train.train_step(state, batch)  # lr 0: warm-up
        new, m = train.train_step(new, batch)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(new.params))
    assert np.isfinite(float(m.compute()["loss"]))
    error = tsx.lowbit.master_error(new.opt_state, new.params)
    assert max(float(jnp.max(jnp.abs(e))) for e in jax.tree.leaves(error)) > 0
