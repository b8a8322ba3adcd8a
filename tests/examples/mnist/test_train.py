"""The MNIST example: training on real data, resume, TFDS path, optimizer config."""

import itertools
import math

import jax
import numpy as np
import optax
import pytest
import tensorflow as tf

from examples.mnist import input_pipeline, train
from examples.mnist.configs import default
from tests.oracle import assert_trees_close, state_layout


@pytest.fixture(scope="module")
def shared_tx(mnist_5k_dir):
    """The default recipe's optimizer, built once so that runs in one test
    process share the compiled train step (each new optimizer recompiles it)."""
    return train.create_optimizer(default.get_config(), steps_per_epoch=20)


def _event_tags(workdir):
    tags = set()
    for path in workdir.glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_one_epoch_on_real_images_learns_and_logs(small_config, tmp_path):
    state, history = train.train_and_evaluate(small_config, str(tmp_path))
    (record,) = history
    assert record["epoch"] == 1 and record["step"] == 640 // 32 == int(state.step)

    losses = record["step_losses"]
    assert losses.shape == (20,) and np.isfinite(losses).all()
    # Starts near ln(10) (uniform guessing) and falls well below it.
    assert abs(losses[:3].mean() - math.log(10)) < 0.3
    assert losses[-5:].mean() < 0.6 * losses[:5].mean()
    # 500 real test images: chance is 10%.
    assert record["test_accuracy"] > 0.5
    assert record["test_loss"] < 0.6 * math.log(10)

    # CLU wrote TensorBoard events (metrics, progress, hparams), Orbax a checkpoint.
    tags = _event_tags(tmp_path)
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= tags
    assert "steps_per_sec" in tags
    assert any(t.startswith("_hparams_") for t in tags)
    assert (tmp_path / "checkpoints" / "1").is_dir()


class _Interrupted(Exception):
    pass


def test_rerun_after_an_interruption_ends_like_an_uninterrupted_run(
    small_config, tmp_path, monkeypatch, shared_tx
):
    small_config.num_epochs = 2
    # With an EMA of the params: it must be checkpointed and restored too.
    small_config.ema_decay = 0.9
    full_state, full_history = train.train_and_evaluate(
        small_config, str(tmp_path / "full"), tx=shared_tx
    )

    # Same command, killed during epoch 2 (after epoch 1's checkpoint).
    real_train_epoch = train.train_epoch
    calls = []

    def train_epoch_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupted
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "train_epoch", train_epoch_then_die)
    with pytest.raises(_Interrupted):
        train.train_and_evaluate(small_config, str(tmp_path / "rerun"), tx=shared_tx)
    monkeypatch.setattr(train, "train_epoch", real_train_epoch)
    saved = sorted(p.name for p in (tmp_path / "rerun" / "checkpoints").iterdir())
    assert saved == ["1"]

    # Rerunning resumes at epoch 2 and ends bit for bit where the full run did.
    state, history = train.train_and_evaluate(
        small_config, str(tmp_path / "rerun"), tx=shared_tx
    )
    assert [r["epoch"] for r in history] == [2]
    assert int(state.step) == int(full_state.step) == 2 * 20
    for a, b in zip(
        jax.tree.leaves((state.params, state.opt_state, state.ema_params)),
        jax.tree.leaves(
            (full_state.params, full_state.opt_state, full_state.ema_params)
        ),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(
        history[0]["step_losses"], full_history[1]["step_losses"]
    )
    assert history[0]["test_accuracy"] == full_history[1]["test_accuracy"]
    assert history[0]["test_loss"] == full_history[1]["test_loss"]
    assert history[0]["ema_test_loss"] == full_history[1]["ema_test_loss"]

    # Once more: everything is done; nothing is trained, the state is restored.
    again, none = train.train_and_evaluate(
        small_config, str(tmp_path / "rerun"), tx=shared_tx
    )
    assert none == [] and int(again.step) == 2 * 20
    np.testing.assert_array_equal(
        np.asarray(again.params["Dense_1"]["kernel"]),
        np.asarray(full_state.params["Dense_1"]["kernel"]),
    )

    # A config whose state has another structure (no EMA) is refused clearly.
    small_config.ema_decay = 0.0
    with pytest.raises(train.CheckpointMismatchError, match="new --workdir"):
        train.train_and_evaluate(small_config, str(tmp_path / "rerun"), tx=shared_tx)
    small_config.ema_decay = 0.9

    # The EMA metrics are those of the averaged params, not of the params.
    data = input_pipeline.get_datasets(small_config)
    ema_eval = train.evaluate(state.ema_params, data.test_batches()).compute()
    assert float(ema_eval["loss"]) == pytest.approx(history[0]["ema_test_loss"])
    assert history[0]["ema_test_loss"] != history[0]["test_loss"]


def test_tfds_path_trains_on_mocked_mnist(
    small_config, tmp_path, monkeypatch, shared_tx
):
    import tensorflow_datasets as tfds

    # Online as far as the example can tell; the mock makes downloading a no-op.
    monkeypatch.setattr(input_pipeline, "download_server_reachable", lambda: True)
    small_config.data_dir = None
    small_config.tfds_data_dir = str(tmp_path / "tfds")
    small_config.max_train_examples = 0
    small_config.max_eval_examples = 0
    with tfds.testing.mock_data(num_examples=96):
        data = input_pipeline.get_datasets(small_config)
        assert data.source == "TFDS mnist"
        assert data.train_images.shape == (96, 28, 28, 1)
        assert data.train_images.dtype == np.uint8
        batch = next(data.train_batches(1))
        assert batch["image"].dtype == np.float32 and batch["image"].max() <= 1.0
        state, history = train.train_and_evaluate(
            small_config, str(tmp_path / "workdir"), tx=shared_tx
        )
    (record,) = history
    assert record["step"] == int(state.step) == 96 // 32
    assert np.isfinite(record["step_losses"]).all()
    assert 0.0 <= record["test_accuracy"] <= 1.0


def test_default_optimizer_trains_step_for_step_like_optax_sgd(small_config, shared_tx):
    data = input_pipeline.get_datasets(small_config)
    batches = list(itertools.islice(data.train_batches(1), 4))
    rng = jax.random.key(0)
    ours = train.create_train_state(rng, small_config, shared_tx)
    theirs = train.create_train_state(
        rng, small_config, optax.sgd(learning_rate=0.1, momentum=0.9)
    )
    assert state_layout(ours.opt_state) == state_layout(theirs.opt_state)
    for i, batch in enumerate(batches):
        ours, our_metrics = train.train_step(ours, batch)
        theirs, their_metrics = train.train_step(theirs, batch)
        assert_trees_close(ours.params, theirs.params, msg=f"params after step {i}")
        assert_trees_close(
            our_metrics.compute(), their_metrics.compute(), msg=f"metrics, step {i}"
        )


def _kernels_only(params):
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _cnn_like_params():
    rng = np.random.default_rng(7)
    return {
        "Conv_0": {
            "kernel": rng.normal(size=(3, 3, 1, 4)).astype(np.float32),
            "bias": np.full((4,), 0.5, np.float32),
        },
        "Dense_0": {
            "kernel": rng.normal(size=(6, 3)).astype(np.float32),
            "bias": np.full((3,), -0.5, np.float32),
        },
    }


def _grads(params, step):
    # Host-side pseudo-gradients: no PRNG programs to compile.
    rng = np.random.default_rng(100 + step)
    return jax.tree.map(
        lambda p: (rng.normal(size=p.shape) + 0.1 * p).astype(np.float32), params
    )


def _run(tx, params, steps=3):
    # One compiled update instead of many op-by-op dispatches: faster here.
    update = jax.jit(tx.update)
    state = tx.init(params)
    for step in range(steps):
        updates, state = update(_grads(params, step), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize(
    "overrides, make_optax",
    [
        # Decoupled decay through AdamW's own argument, on kernels only.
        (
            dict(optimizer="adamw", learning_rate=1e-3, weight_decay=1e-4),
            lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=_kernels_only),
        ),
        # SGD has no weight_decay argument: decayed weights added to the gradient.
        (
            dict(weight_decay=5e-2),
            lambda: optax.chain(
                optax.add_decayed_weights(5e-2, mask=_kernels_only),
                optax.sgd(0.1, momentum=0.9),
            ),
        ),
        (
            dict(schedule="cosine"),
            lambda: optax.sgd(optax.cosine_decay_schedule(0.1, 10 * 5), momentum=0.9),
        ),
        (
            dict(schedule="warmup_cosine", warmup_epochs=0.4),
            lambda: optax.sgd(
                optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 10 * 5), momentum=0.9
            ),
        ),
    ],
)
def test_optimizer_from_config_matches_optax(overrides, make_optax):
    config = default.get_config()
    if overrides.get("optimizer") == "adamw":
        config.optimizer_kwargs = {}
    config.update(overrides)
    ours = train.create_optimizer(config, steps_per_epoch=5)
    params = _cnn_like_params()
    our_params, our_state = _run(ours, params)
    their_params, their_state = _run(make_optax(), params)
    assert_trees_close(our_params, their_params)
    assert state_layout(our_state) == state_layout(their_state)


def test_optimizer_kwargs_it_does_not_take_are_named():
    config = default.get_config()
    config.optimizer = "adam"  # still carrying SGD's momentum=0.9
    with pytest.raises(ValueError, match="momentum"):
        train.create_optimizer(config, steps_per_epoch=5)


def test_unknown_schedule_is_named():
    config = default.get_config()
    config.schedule = "triangle"
    with pytest.raises(ValueError, match="triangle"):
        train.create_optimizer(config, steps_per_epoch=5)


def test_weight_decay_set_twice_is_refused():
    config = default.get_config()
    config.optimizer = "adamw"
    config.optimizer_kwargs = {"weight_decay": 1e-2}
    config.weight_decay = 1e-4
    with pytest.raises(ValueError, match="weight decay is set twice"):
        train.create_optimizer(config, steps_per_epoch=5)


def test_unknown_optimizer_name_suggests_a_close_one():
    config = default.get_config()
    config.optimizer = "sgdd"
    with pytest.raises(ValueError, match="'sgd'"):
        train.create_optimizer(config, steps_per_epoch=5)
