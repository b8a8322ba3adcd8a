"""Byte-level language modelling with tsx: matrix optimizers, low-bit and ZeRO.

Recipe. :func:`create_optimizer` puts the layers' kernels (stacked by
``nn.scan``, one matrix per layer through ``MuonDimensionNumbers(1, 2)``) on
``config.optimizer`` and the embeddings, norms and biases on AdamW
(``tsx.partition``), with per-group learning-rate multipliers, warm-up +
cosine or WSD, global-norm clipping, and the whole state in
``config.state_bits`` bits. :class:`tsx.training.TrainState` adds the EMA of
the params and, with ``config.zero_axis``, splits the optimizer state over
the devices of the mesh; ``config.fsdp`` splits the params too, by the
logical axis names the model gives them.

Loop. Every step reads the windows of its own step number (exact resume);
every ``log_every_steps`` the mean training loss (CLU metrics), the learning
rate and the optimizer telemetry go to TensorBoard; every
``eval_every_steps`` the validation loss (nats per byte) and tokens/s go to
TensorBoard and one console line, and a checkpoint is saved; at the end the
model writes a short sample.
"""

import time
from pathlib import Path
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, metrics, parameter_overview, periodic_actions
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import tsx
from examples.lm import input_pipeline, models
from tsx.matrix import DimensionNumbers

MATRIX_OPTIMIZERS = ("adamw", "muon", "soap", "shampoo", "kron")
SCHEDULES = ("warmup_cosine", "wsd")


class ConfigError(ValueError):
    """A configuration value that cannot work (named with its field)."""


@flax.struct.dataclass
class TrainMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")


def create_model(config: ml_collections.ConfigDict, scan: bool = True):
    return models.Transformer(
        vocab=config.vocab,
        width=config.width,
        layers=config.layers,
        heads=config.heads,
        context=config.context,
        tied=config.tied_embeddings,
        scan=scan,
    )


def param_group(path: tuple, param: jax.Array) -> str:
    """``"matrix"`` (a layer's kernel), ``"embed"`` or ``"other"``."""
    names = [str(getattr(k, "key", k)) for k in path]
    if names[0] in ("embed", "pos"):
        return "embed"
    in_layer = names[0] == "layers" or names[0].startswith("layer_")
    return "matrix" if in_layer and names[-1] == "kernel" else "other"


def _matrix_dims(params: Any) -> Any:
    """Each layer of a stacked ``(layers, in, out)`` kernel is its own matrix."""
    return jax.tree.map(lambda p: DimensionNumbers(p.ndim - 2, p.ndim - 1), params)


def create_learning_rate(config: ml_collections.ConfigDict, peak: float):
    if config.schedule == "wsd":
        return tsx.warmup_stable_decay_schedule(
            peak, config.num_steps, config.warmup_steps
        )
    return tsx.warmup_cosine_decay_schedule(
        0.0, peak, config.warmup_steps, config.num_steps
    )


def create_optimizer(config: ml_collections.ConfigDict):
    """``config.optimizer`` on the layers' matrices, AdamW on the rest."""
    lr = create_learning_rate(config, config.learning_rate)
    decay = config.weight_decay

    def adamw(mult: float = 1.0):
        return tsx.optimizers.build(
            "adamw", learning_rate=lambda s: mult * lr(s), weight_decay=decay
        )

    if config.optimizer == "adamw":
        matrix = adamw()
    else:
        # Muon's updates have their own scale, hence its own learning rate.
        peak = config.muon_learning_rate if config.optimizer == "muon" else None
        matrix = tsx.optimizers.build(
            config.optimizer,
            learning_rate=lr if peak is None else create_learning_rate(config, peak),
            weight_decay=decay,
            weight_dimension_numbers=_matrix_dims,
            **config.optimizer_kwargs.to_dict(),
        )
    tx = tsx.partition(
        {"matrix": matrix, "embed": adamw(config.embed_lr_mult), "other": adamw()},
        lambda params: jax.tree_util.tree_map_with_path(param_group, params),
    )
    if config.grad_clip:
        tx = tsx.chain(tsx.clip_by_global_norm(config.grad_clip), tx)
    if config.state_bits != 32:
        tx = tsx.quantized_state(tx, bits=config.state_bits)
    return tx


def check_config(config: ml_collections.ConfigDict) -> None:
    """Raise :class:`ConfigError` for a value that cannot work, before any data."""
    v = tsx.validation
    try:
        for name in (
            "vocab",
            "width",
            "layers",
            "heads",
            "context",
            "batch_size",
            "num_steps",
            "eval_every_steps",
            "eval_batches",
            "log_every_steps",
        ):
            v.check("config", name, config[name], v.POSITIVE_INT)
        v.check("config", "optimizer", config.optimizer, v.choice(*MATRIX_OPTIMIZERS))
        v.check("config", "schedule", config.schedule, v.choice(*SCHEDULES))
        v.check("config", "state_bits", config.state_bits, v.choice(32, 16, 8, 4))
        v.check("config", "ema_decay", config.ema_decay, v.PROBABILITY)
        v.check("config", "warmup_steps", config.warmup_steps, v.STEPS)
        if config.width % config.heads:
            raise ValueError(
                f"config.width={config.width} is not a multiple of "
                f"config.heads={config.heads}"
            )
        if config.zero_axis not in (None, "data"):
            raise ValueError(f"config.zero_axis={config.zero_axis!r}: use 'data'")
        create_optimizer(config)  # the optimizer's own hyperparameter checks
    except (TypeError, ValueError) as err:
        raise ConfigError(err) from None


def loss_fn(params, apply_fn, batch):
    """Mean next-byte cross-entropy (nats) of ``batch`` ``(B, T + 1)``."""
    logits = apply_fn({"params": params}, batch[:, :-1])
    return tsx.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()


@jax.jit
def train_step(state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(state.params, state.apply_fn, batch)
    step_metrics = TrainMetrics.single_from_model_output(loss=loss)
    return state.apply_gradients(grads=grads), step_metrics


@jax.jit
def eval_step(state, params, batch):
    return loss_fn(params, state.apply_fn, batch)


def initial_params(config: ml_collections.ConfigDict) -> tuple[Any, Any]:
    """The model's initial params and each one's logical axis names."""
    tokens = jnp.zeros((1, config.context), jnp.int32)
    init = jax.jit(create_model(config).init)
    boxed = init(jax.random.key(config.seed), tokens)["params"]
    return nn.unbox(boxed), nn.get_partition_spec(boxed)


def param_shardings(logical: Any, mesh, fsdp: bool) -> Any:
    """Replicated params, or with ``fsdp`` each split along its ``embed`` axis
    over ``data`` (XLA gathers them where a layer needs them)."""
    rules = (("embed", "data"),) if fsdp else ()
    return nn.logical_to_mesh_sharding(logical, mesh, rules)


def create_train_state(config, mesh):
    params, logical = initial_params(config)
    params = jax.device_put(params, param_shardings(logical, mesh, config.fsdp))
    return tsx.training.TrainState.create(
        apply_fn=create_model(config).apply,
        params=params,
        tx=create_optimizer(config),
        ema_decay=config.ema_decay or None,
        zero_axis=config.zero_axis,
        telemetry=True,
    )


def sample(state, config, prompt: np.ndarray, length: int) -> str:
    """``length`` bytes after ``prompt`` (at least ``config.context`` bytes),
    sampled at ``config.sample_temperature`` (0: greedy), seeded."""
    tokens = [int(t) for t in prompt]
    key = jax.random.key(config.seed)
    apply = jax.jit(state.apply_fn)
    for _ in range(length):
        window = jnp.asarray(tokens[-config.context :], jnp.int32)[None]
        logits = apply({"params": state.params}, window)[0, -1]
        if config.sample_temperature > 0:
            key, sub = jax.random.split(key)
            nxt = jax.random.categorical(sub, logits / config.sample_temperature)
        else:
            nxt = jnp.argmax(logits)
        tokens.append(int(nxt))
    return bytes(tokens[len(prompt) :]).decode("utf-8", errors="replace")


def evaluate(state, valid: list[np.ndarray], batch_sharding) -> dict[str, float]:
    record = {}
    for name, params in (
        ("valid_loss", state.params),
        ("ema_valid_loss", None if state.ema is None else state.ema.params),
    ):
        if params is not None:
            losses = [
                eval_step(state, params, jax.device_put(b, batch_sharding))
                for b in valid
            ]
            record[name] = float(np.mean(losses))
    return record


def _merge(total: TrainMetrics | None, new: TrainMetrics) -> TrainMetrics:
    return new if total is None else total.merge(new)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
    """Train for ``config.num_steps`` steps, resuming from ``workdir``.

    Returns the final state and one dict of metrics per evaluation.
    """
    workdir = Path(workdir).expanduser().absolute()
    train_text, valid_text, source = input_pipeline.load(config)
    valid = input_pipeline.valid_batches(valid_text, config)
    logging.info("Data: %s.", source)
    devices = jax.device_count()
    if config.batch_size % devices:
        raise ConfigError(
            f"config.batch_size={config.batch_size} is not a multiple of the "
            f"{devices} devices"
        )
    if config.fsdp and config.width % devices:
        raise ConfigError(
            f"config.fsdp splits config.width={config.width} over {devices} "
            "devices: use a multiple"
        )
    mesh = jax.make_mesh((devices,), ("data",), axis_types=(AxisType.Auto,))
    batch_sharding = NamedSharding(mesh, P("data"))
    workdir.mkdir(parents=True, exist_ok=True)
    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0
    )
    learning_rate = create_learning_rate(config, config.learning_rate)
    history = []
    with (
        jax.set_mesh(mesh),
        tsx.training.CheckpointManager(
            workdir / "checkpoints", max_to_keep=config.max_checkpoints_to_keep
        ) as checkpoints,
    ):
        state = create_train_state(config, mesh)
        if checkpoints.latest_step() is not None:
            state = checkpoints.restore(state)
            logging.info("Resumed at step %d.", state.step)
        else:
            writer.write_hparams(config.to_dict())
        logging.info(parameter_overview.get_parameter_overview(state.params))
        n = sum(x.size for x in jax.tree.leaves(state.params))
        logging.info(
            "%s parameters, optimizer state %s bytes.",
            f"{n:,}",
            f"{tsx.lowbit.state_bytes(state.opt_state):,}",
        )
        progress = periodic_actions.ReportProgress(
            num_train_steps=config.num_steps, writer=writer, every_secs=60
        )
        start, tokens = time.perf_counter(), 0
        since_log = since_eval = None  # train metrics since the last log / eval
        for step in range(int(state.step) + 1, config.num_steps + 1):
            batch = input_pipeline.train_batch(train_text, step, config)
            state, step_metrics = train_step(
                state, jax.device_put(batch, batch_sharding)
            )
            since_log = _merge(since_log, step_metrics)
            since_eval = _merge(since_eval, step_metrics)
            tokens += batch.shape[0] * (batch.shape[1] - 1)
            progress(step)
            if step % config.log_every_steps == 0:
                scalars = {
                    f"telemetry/{k}": float(v) for k, v in state.telemetry.items()
                }
                scalars |= {
                    "train_loss": float(since_log.compute()["loss"]),
                    "learning_rate": learning_rate(step - 1),
                }
                writer.write_scalars(step, scalars)
                since_log = None
            if step % config.eval_every_steps == 0 or step == config.num_steps:
                train_loss = float(since_eval.compute()["loss"])
                since_eval = None
                record = evaluate(state, valid, batch_sharding)
                record["tokens_per_sec"] = tokens / (time.perf_counter() - start)
                start, tokens = time.perf_counter(), 0
                writer.write_scalars(step, record)
                history.append({"step": step, "train_loss": train_loss, **record})
                logging.info(
                    "step %d/%d: train %.4f, %s",
                    step,
                    config.num_steps,
                    train_loss,
                    ", ".join(f"{k} {v:.4g}" for k, v in record.items()),
                )
                checkpoints.save(step, state)
    if history and config.sample_chars:
        prompt = valid_text[: config.context]
        text = sample(state, config, prompt, config.sample_chars)
        logging.info("Sample after %d bytes of validation text:\n%s", len(prompt), text)
        history[-1]["sample"] = text
    writer.close()
    return state, history
