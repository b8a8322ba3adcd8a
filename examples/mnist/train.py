"""MNIST training and evaluation: a Linen CNN trained with a tsx optimizer.

The model is the CNN of Flax's MNIST example (two 3x3 convolutions with 32
and 64 features, each followed by ReLU and 2x2 average pooling, then dense
layers of 256 and 10 units), trained on softmax cross-entropy. Per epoch the
loop trains on the shuffled training set, evaluates on the test set, writes
the metrics (TensorBoard and log lines) and saves an Orbax checkpoint, from
which a rerun in the same workdir resumes.
"""

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from clu import metric_writers, metrics, parameter_overview, periodic_actions
from flax import linen as nn

import tsx
from examples.mnist import input_pipeline

__all__ = [
    "CNN",
    "CheckpointMismatchError",
    "EvalMetrics",
    "TrainMetrics",
    "create_learning_rate",
    "create_optimizer",
    "create_train_state",
    "cross_entropy_loss",
    "eval_step",
    "evaluate",
    "train_and_evaluate",
    "train_epoch",
    "train_step",
]

NUM_CLASSES = 10


class CNN(nn.Module):
    """conv 32 -> avg-pool -> conv 64 -> avg-pool -> dense 256 -> dense 10, ReLU."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(features=32, kernel_size=(3, 3))(x)
        x = nn.relu(x)
        x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
        x = nn.Conv(features=64, kernel_size=(3, 3))(x)
        x = nn.relu(x)
        x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.Dense(features=256)(x)
        x = nn.relu(x)
        x = nn.Dense(features=NUM_CLASSES)(x)
        return x


# One instance: its bound ``apply`` is the train state's static ``apply_fn``,
# and equal static fields let runs in one process share compiled steps.
_MODEL = CNN()


@flax.struct.dataclass
class TrainMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy


@flax.struct.dataclass
class EvalMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy


def cross_entropy_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy ``-log softmax(logits)[label]``."""
    return tsx.losses.softmax_cross_entropy_with_integer_labels(logits, labels)


# --------------------------------------------------------------------------
# Optimizer from the config.


def create_learning_rate(
    config: ml_collections.ConfigDict, steps_per_epoch: int, lib: ModuleType = tsx
) -> float | Callable[[jax.Array], jax.Array]:
    """``config.learning_rate``, constant or shaped by ``config.schedule``.

    ``lib`` is the library the schedule comes from (see :func:`create_optimizer`).
    """
    total_steps = config.num_epochs * steps_per_epoch
    schedule = config.get("schedule", "constant") or "constant"
    if schedule == "constant":
        return config.learning_rate
    if schedule == "cosine":
        return lib.cosine_decay_schedule(config.learning_rate, decay_steps=total_steps)
    if schedule == "warmup_cosine":
        warmup_steps = int(config.warmup_epochs * steps_per_epoch)
        return lib.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=config.learning_rate,
            warmup_steps=warmup_steps,
            decay_steps=total_steps,
        )
    raise ValueError(
        f"config.schedule={schedule!r}: expected 'constant', 'cosine' or"
        " 'warmup_cosine'"
    )


def _takes_decoupled_weight_decay(name: str, lib: ModuleType) -> bool:
    """Whether optimizer ``name`` has its own ``weight_decay`` and ``mask``."""
    key = name.strip().lower().replace("-", "_")
    factory = getattr(lib, key, None)
    if factory is None and lib is tsx:
        factory = getattr(tsx.contrib, key.removeprefix("contrib."), None)
    if not callable(factory):
        return False
    parameters = inspect.signature(factory).parameters
    return "weight_decay" in parameters and "mask" in parameters


def _build(lib: ModuleType, name: str, **hyperparameters: Any) -> Any:
    if lib is tsx:
        # The registry resolves "adamw", "contrib.muon", ... and names any bad
        # hyperparameter together with the ones the optimizer accepts.
        return tsx.optimizers.get(name, **hyperparameters)
    factory = getattr(lib, name, None)
    if factory is None:
        raise ValueError(f"config.optimizer={name!r}: {lib.__name__} has no such name")
    return factory(**hyperparameters)


def create_optimizer(
    config: ml_collections.ConfigDict, steps_per_epoch: int, lib: ModuleType = tsx
) -> tsx.GradientTransformation:
    """The optimizer ``config.optimizer`` names, with its kwargs and weight decay.

    ``tsx.optimizers.get(config.optimizer, learning_rate=...,
    **config.optimizer_kwargs)``, where the learning rate may be a schedule
    (:func:`create_learning_rate`). ``config.weight_decay > 0`` decays kernels
    only (``tsx.masks.decay_mask``): through the optimizer's own decoupled
    ``weight_decay`` argument where it has one (AdamW; Loshchilov & Hutter,
    2019, "Decoupled weight decay regularization"), otherwise by adding
    ``weight_decay * params`` to the gradient before the optimizer (L2
    regularisation, as ``torch.optim.SGD(weight_decay=...)`` does).

    ``lib`` is the library the optimizer and schedule are built from: tsx, or
    any module with the same API, e.g. Optax (tsx is a drop-in for it), which
    is how the MNIST benchmark in ``benchmarks/`` trains the same recipe with Optax.
    """
    kwargs = dict(config.get("optimizer_kwargs") or {})
    weight_decay = config.get("weight_decay", 0.0)
    if weight_decay and "weight_decay" in kwargs:
        raise ValueError(
            f"weight decay is set twice: config.weight_decay={weight_decay!r} and"
            f" config.optimizer_kwargs.weight_decay={kwargs['weight_decay']!r};"
            " use config.weight_decay (it also masks biases out)"
        )
    decoupled = bool(weight_decay) and _takes_decoupled_weight_decay(
        config.optimizer, lib
    )
    if decoupled:
        kwargs.update(weight_decay=weight_decay, mask=tsx.masks.decay_mask)
    learning_rate = create_learning_rate(config, steps_per_epoch, lib)
    tx = _build(lib, config.optimizer, learning_rate=learning_rate, **kwargs)
    if weight_decay and not decoupled:
        tx = lib.chain(
            lib.add_decayed_weights(weight_decay, mask=tsx.masks.decay_mask), tx
        )
    return tx


# --------------------------------------------------------------------------
# Train state and steps.


def create_train_state(
    rng: jax.Array, config: ml_collections.ConfigDict, tx: Any
) -> tsx.training.TrainState:
    """Initialises the CNN's parameters and the optimizer state."""
    ema_decay = config.get("ema_decay", 0.0)
    return tsx.training.TrainState.create(
        apply_fn=_MODEL.apply,
        params=_init_params(rng),
        tx=tx,
        ema_decay=ema_decay or None,
        ema_warmup=bool(ema_decay) and config.get("ema_warmup", False),
    )


@jax.jit
def _init_params(rng: jax.Array) -> Any:
    # One compiled program (cached across runs in a process) instead of
    # op-by-op dispatch of the initialisers: much faster to start.
    return _MODEL.init(rng, jnp.ones((1, 28, 28, 1), jnp.float32))["params"]


@jax.jit
def train_step(
    state: tsx.training.TrainState, batch: Mapping[str, jax.Array]
) -> tuple[tsx.training.TrainState, TrainMetrics]:
    """One gradient step on the mean cross-entropy of ``batch``."""

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, batch["image"])
        loss = cross_entropy_loss(logits, batch["label"])
        return loss.mean(), (loss, logits)

    grads, (loss, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads)
    step_metrics = TrainMetrics.single_from_model_output(
        loss=loss, logits=logits, labels=batch["label"]
    )
    return state, step_metrics


@jax.jit
def eval_step(params: Any, batch: Mapping[str, jax.Array]) -> EvalMetrics:
    """Loss and accuracy of ``params`` on one batch."""
    logits = _MODEL.apply({"params": params}, batch["image"])
    loss = cross_entropy_loss(logits, batch["label"])
    return EvalMetrics.single_from_model_output(
        loss=loss, logits=logits, labels=batch["label"]
    )


def train_epoch(
    state: tsx.training.TrainState,
    batches: Iterable[Mapping[str, np.ndarray]],
    report_progress: Callable[[int], Any] | None = None,
    first_step: int = 1,
) -> tuple[tsx.training.TrainState, TrainMetrics, np.ndarray]:
    """Runs one pass over ``batches``; returns state, metrics and per-step losses.

    ``report_progress`` is called with the global step number after each step,
    counted on the host from ``first_step`` (reading ``state.step`` would wait
    for every step to finish and stall JAX's asynchronous dispatch).
    """
    epoch_metrics = None
    step_losses = []
    for step, batch in enumerate(batches, start=first_step):
        state, step_metrics = train_step(state, batch)
        epoch_metrics = (
            step_metrics if epoch_metrics is None else epoch_metrics.merge(step_metrics)
        )
        step_losses.append(step_metrics.loss.total / step_metrics.loss.count)
        if report_progress is not None:
            report_progress(step)
    if epoch_metrics is None:
        raise ValueError("the training set yielded no batch")
    return state, epoch_metrics, np.asarray(jax.device_get(step_losses))


def evaluate(params: Any, batches: Iterable[Mapping[str, np.ndarray]]) -> EvalMetrics:
    """Loss and accuracy of ``params`` over every example of ``batches``."""
    eval_metrics = None
    for batch in batches:
        batch_metrics = eval_step(params, batch)
        eval_metrics = (
            batch_metrics if eval_metrics is None else eval_metrics.merge(batch_metrics)
        )
    if eval_metrics is None:
        raise ValueError("the test set yielded no batch")
    return eval_metrics


# --------------------------------------------------------------------------
# The whole run.


class CheckpointMismatchError(ValueError):
    """The workdir's checkpoint cannot be restored into this config's state."""


def _flat_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The config as flat ``{"a.b": value}`` with TensorBoard-friendly values."""
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                visit(f"{prefix}{key}.", sub)
        elif isinstance(value, bool | int | float | str):
            flat[prefix[:-1]] = value
        else:
            flat[prefix[:-1]] = str(value)

    visit("", config.to_dict())
    return flat


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, tx: Any = None
) -> tuple[tsx.training.TrainState, list[dict[str, Any]]]:
    """Trains for ``config.num_epochs`` epochs, resuming from ``workdir`` if it can.

    Args:
      config: hyperparameters (see ``configs/default.py``).
      workdir: where checkpoints and TensorBoard event files go.
      tx: an optimizer to use instead of the one ``config`` describes (any
        object with Optax's ``init``/``update`` protocol; the benchmark passes
        Optax's own SGD here to compare).

    Returns:
      The final train state and, for each epoch run by this call, a dict of
      its metrics, timings and per-step training losses.
    """
    workdir_path = Path(workdir).expanduser().absolute()
    # Data first: a missing data set must stop the run before anything else.
    data = input_pipeline.get_datasets(config)
    logging.info(
        "Data: %s; %d training examples (%d steps of %d per epoch), %d test.",
        data.source,
        data.num_train,
        data.steps_per_epoch,
        config.batch_size,
        data.num_test,
    )

    workdir_path.mkdir(parents=True, exist_ok=True)
    writer = metric_writers.create_default_writer(
        str(workdir_path), just_logging=jax.process_index() > 0
    )

    if tx is None:
        tx = create_optimizer(config, data.steps_per_epoch)
    state = create_train_state(jax.random.key(config.seed), config, tx)

    checkpoints = ocp.CheckpointManager(
        workdir_path / "checkpoints",
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.max_checkpoints_to_keep,
            create=True,
            enable_async_checkpointing=False,
        ),
    )
    history: list[dict[str, Any]] = []
    try:
        first_epoch = 1
        latest = checkpoints.latest_step()
        if latest is not None:
            try:
                state = checkpoints.restore(
                    latest, args=ocp.args.StandardRestore(state)
                )
            except ValueError as e:
                raise CheckpointMismatchError(
                    f"the checkpoint of epoch {latest} in {checkpoints.directory}"
                    " does not fit the train state of this config (was it written"
                    " with another optimizer or ema_decay?). Use a new --workdir"
                    f" or the config it was trained with. Orbax says: {e}"
                ) from e
            first_epoch = latest + 1
            logging.info("Resumed from %s at epoch %d.", checkpoints.directory, latest)
            if first_epoch > config.num_epochs:
                summary = evaluate(state.params, data.test_batches()).compute()
                logging.info(
                    "Already trained for %d epochs (config.num_epochs=%d): nothing"
                    " to do; test loss %.4f, accuracy %.2f%%. Use a new --workdir"
                    " to train again, or raise --config.num_epochs to go on.",
                    latest,
                    config.num_epochs,
                    float(summary["loss"]),
                    100 * float(summary["accuracy"]),
                )
        else:
            parameter_overview.log_parameter_overview(state.params)
            writer.write_hparams(_flat_hparams(config))

        total_steps = config.num_epochs * data.steps_per_epoch
        report_progress = periodic_actions.ReportProgress(
            num_train_steps=total_steps,
            writer=writer,
            every_steps=data.steps_per_epoch,
            every_secs=None,
        )
        for epoch in range(first_epoch, config.num_epochs + 1):
            t0, cpu0 = time.perf_counter(), time.process_time()
            state, train_metrics, step_losses = train_epoch(
                state,
                data.train_batches(epoch),
                report_progress,
                first_step=(epoch - 1) * data.steps_per_epoch + 1,
            )
            train_summary = train_metrics.compute()  # waits for the last step
            train_seconds = time.perf_counter() - t0
            # CPU seconds of all threads: on a shared machine this moves less
            # with the load than the wall time does.
            train_cpu_seconds = time.process_time() - cpu0

            t0 = time.perf_counter()
            with report_progress.timed("eval", wait_jax_async_dispatch=False):
                eval_summary = evaluate(state.params, data.test_batches()).compute()
                if state.ema_params is not None:
                    ema_summary = evaluate(
                        state.ema_params, data.test_batches()
                    ).compute()
            eval_seconds = time.perf_counter() - t0

            step = int(state.step)
            record = {
                "epoch": epoch,
                "step": step,
                "train_loss": float(train_summary["loss"]),
                "train_accuracy": float(train_summary["accuracy"]),
                "test_loss": float(eval_summary["loss"]),
                "test_accuracy": float(eval_summary["accuracy"]),
                "train_seconds": train_seconds,
                "train_cpu_seconds": train_cpu_seconds,
                "eval_seconds": eval_seconds,
                "step_losses": step_losses,
            }
            if state.ema_params is not None:
                record["ema_test_loss"] = float(ema_summary["loss"])
                record["ema_test_accuracy"] = float(ema_summary["accuracy"])
            history.append(record)
            writer.write_scalars(
                step,
                {
                    k: v
                    for k, v in record.items()
                    if k not in ("epoch", "step", "step_losses")
                },
            )
            ema_note = (
                f"  EMA test acc {100 * record['ema_test_accuracy']:6.2f}%"
                if "ema_test_accuracy" in record
                else ""
            )
            logging.info(
                "epoch %3d/%d  train loss %.4f acc %6.2f%%  test loss %.4f acc"
                " %6.2f%%%s  (%.1f s train, %.1f s eval)",
                epoch,
                config.num_epochs,
                record["train_loss"],
                100 * record["train_accuracy"],
                record["test_loss"],
                100 * record["test_accuracy"],
                ema_note,
                train_seconds,
                eval_seconds,
            )
            checkpoints.save(epoch, args=ocp.args.StandardSave(state))
        checkpoints.wait_until_finished()
    finally:
        checkpoints.close()
        writer.flush()
        writer.close()
    return state, history
