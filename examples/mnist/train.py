"""MNIST classification: the CNN of Flax's MNIST example, trained with tsx.

Per epoch: train on the shuffled training set, evaluate on the test set,
write the metrics to TensorBoard (with the training loss and learning rate
every ``log_every_steps``), log one line, and save a checkpoint from which a
rerun in the same workdir resumes.
"""

import os
import signal
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
from absl import logging
from clu import metric_writers, metrics, periodic_actions
from flax import linen as nn

import tsx
from examples.mnist import input_pipeline

SCHEDULES = ("constant", "cosine", "warmup_cosine")


class ConfigError(ValueError):
    """A configuration value that cannot work (named with its field)."""


class CNN(nn.Module):
    """conv 32 -> avg-pool -> conv 64 -> avg-pool -> dense 256 -> dense 10, ReLU."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for features in (32, 64):
            x = nn.Conv(features=features, kernel_size=(3, 3))(x)
            x = nn.avg_pool(nn.relu(x), window_shape=(2, 2), strides=(2, 2))
        x = nn.relu(nn.Dense(features=256)(x.reshape((x.shape[0], -1))))
        return nn.Dense(features=10)(x)


@flax.struct.dataclass
class Metrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy


def create_learning_rate(config: ml_collections.ConfigDict, steps_per_epoch: int):
    """``config.learning_rate``, constant or shaped by ``config.schedule``."""
    total_steps = config.num_epochs * steps_per_epoch
    if config.schedule == "cosine":
        return tsx.cosine_decay_schedule(config.learning_rate, total_steps)
    if config.schedule == "warmup_cosine":
        warmup_steps = int(config.warmup_epochs * steps_per_epoch)
        return tsx.warmup_cosine_decay_schedule(
            0.0, config.learning_rate, warmup_steps, total_steps
        )
    return config.learning_rate


def create_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
    """``config.optimizer`` with its kwargs, learning rate and weight decay.

    The kwargs are ``config.optimizer_kwargs[config.optimizer]`` (so the
    default's SGD momentum does not follow a switch to another optimizer).
    Weight decay applies to kernels only (``tsx.masks.decay_mask``), decoupled
    or as L2 as ``config.weight_decay_mode`` says; the state is stored in
    ``config.state_bits`` bits.
    """
    decay = config.weight_decay or None
    return tsx.optimizers.build(
        config.optimizer,
        learning_rate=create_learning_rate(config, steps_per_epoch),
        weight_decay=decay,
        weight_decay_mode=config.weight_decay_mode,
        weight_decay_mask=tsx.masks.decay_mask if decay else None,
        state_bits=config.state_bits,
        **config.optimizer_kwargs.get(config.optimizer, {}),
    )


def check_config(config: ml_collections.ConfigDict) -> None:
    """Raise :class:`ConfigError` for a value that cannot work, before any data."""
    v = tsx.validation
    try:  # tsx's own checks name the field and the value
        for name in ("batch_size", "eval_batch_size", "num_epochs", "log_every_steps"):
            v.check("config", name, config[name], v.POSITIVE_INT)
        v.check("config", "schedule", config.schedule, v.choice(*SCHEDULES))
        v.check("config", "ema_decay", config.ema_decay, v.PROBABILITY)
        create_optimizer(config, steps_per_epoch=1)  # name and hyperparameters
    except (TypeError, ValueError) as err:
        raise ConfigError(err) from None


def create_train_state(config: ml_collections.ConfigDict, tx: Any):
    model = CNN()
    variables = jax.jit(model.init)(
        jax.random.key(config.seed), jnp.ones((1, 28, 28, 1), jnp.float32)
    )
    return tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        tx=tx,
        ema_decay=config.ema_decay or None,
        ema_warmup=bool(config.ema_decay) and config.ema_warmup,
    )


@jax.jit
def train_step(state, batch):
    """One step on the mean cross-entropy of ``batch``."""

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, batch["image"])
        losses = tsx.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        return losses.mean(), (losses, logits)

    grads, (losses, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(grads=grads), Metrics.single_from_model_output(
        loss=losses, logits=logits, labels=batch["label"]
    )


@jax.jit
def eval_step(state, params, batch):
    logits = state.apply_fn({"params": params}, batch["image"])
    losses = tsx.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    return Metrics.single_from_model_output(
        loss=losses, logits=logits, labels=batch["label"]
    )


def evaluate(state, split: input_pipeline.Split, batch_size: int) -> dict:
    """Loss and accuracy of the params (and their EMA) on every example of ``split``."""
    record = {}
    ema = None if state.ema is None else state.ema.params
    for prefix, params in (("test", state.params), ("ema_test", ema)):
        if params is not None:
            total = Metrics.empty()
            for batch in input_pipeline.test_batches(split, batch_size):
                total = total.merge(eval_step(state, params, batch))
            record |= {f"{prefix}_{k}": float(v) for k, v in total.compute().items()}
    return record


def _check_writable(workdir: Path) -> None:
    """Fail before loading data if ``workdir`` cannot be created or written."""
    existing = next(p for p in (workdir, *workdir.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(13, "not a writable folder", str(existing))


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped training at ``step``; ``saved`` resumes."""

    def __init__(self, step: int, saved: int, signum: int) -> None:
        self.step, self.saved, self.signum = step, saved, signum
        super().__init__(
            f"interrupted at step {step}; rerun to resume from step {saved} "
            "(the last completed epoch)"
        )


class _Signals:
    """Notes SIGINT and SIGTERM so that the loop stops between steps."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._old[signum] = signal.signal(signum, self._note)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def train_epoch(
    state, split, config, epoch: int, learning_rate, writer, progress, signals=None
):
    """One pass over the shuffled training set; returns the state and metrics.

    Stops after the step at which ``signals`` noted SIGINT or SIGTERM,
    raising :class:`Interrupted`.
    """
    epoch_metrics = Metrics.empty()
    batches = input_pipeline.train_batches(split, config.batch_size, config.seed, epoch)
    steps_per_epoch = len(split[1]) // config.batch_size
    # Counted on the host: reading state.step would wait for the device.
    for step, batch in enumerate(batches, start=(epoch - 1) * steps_per_epoch + 1):
        state, step_metrics = train_step(state, batch)
        epoch_metrics = epoch_metrics.merge(step_metrics)
        progress(step)
        if step % config.log_every_steps == 0:
            lr = learning_rate(step - 1) if callable(learning_rate) else learning_rate
            loss = step_metrics.compute()["loss"]
            writer.write_scalars(step, {"train_step_loss": loss, "learning_rate": lr})
        if signals is not None and signals.received:
            raise Interrupted(step, (epoch - 1) * steps_per_epoch, signals.received)
    scores = {f"train_{k}": float(v) for k, v in epoch_metrics.compute().items()}
    return state, step, scores


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
    """Train for ``config.num_epochs`` epochs, resuming from ``workdir``.

    Returns the final state and one dict of metrics per epoch run by this call.
    """
    workdir = Path(workdir).expanduser().absolute()
    _check_writable(workdir)
    data, source = input_pipeline.load(config)
    steps_per_epoch = len(data["train"][1]) // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"config.batch_size={config.batch_size} exceeds the data")
    logging.info("Data: %s, %d steps per epoch.", source, steps_per_epoch)
    workdir.mkdir(parents=True, exist_ok=True)
    learning_rate = create_learning_rate(config, steps_per_epoch)
    state = create_train_state(config, create_optimizer(config, steps_per_epoch))
    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0
    )
    with (
        tsx.training.CheckpointManager(
            workdir / "checkpoints", max_to_keep=config.max_checkpoints_to_keep
        ) as checkpoints,  # leaving the block, even by an error, finishes saving
        _Signals() as signals,
    ):
        if checkpoints.latest_step() is not None:
            state = checkpoints.restore(state)  # the newest step that verifies
            logging.info("Resumed at step %d.", state.step)
        else:
            writer.write_hparams(config.to_dict())
            if jax.process_index() == 0:  # the console stays at a line per epoch
                (workdir / "config.json").write_text(
                    config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
                )
        progress = periodic_actions.ReportProgress(
            num_train_steps=config.num_epochs * steps_per_epoch,
            writer=writer,
            every_steps=steps_per_epoch,
            every_secs=None,
        )
        history = []
        for epoch in range(
            int(state.step) // steps_per_epoch + 1, config.num_epochs + 1
        ):
            state, step, record = train_epoch(
                state,
                data["train"],
                config,
                epoch,
                learning_rate,
                writer,
                progress,
                signals,
            )
            with progress.timed("eval"):
                record |= evaluate(state, data["test"], config.eval_batch_size)
            writer.write_scalars(step, record)
            history.append({"epoch": epoch, **record})
            scores = ", ".join(f"{k} {v:.4f}" for k, v in record.items())
            logging.info("epoch %d/%d: %s", epoch, config.num_epochs, scores)
            checkpoints.save(epoch, state)
    writer.close()
    return state, history
