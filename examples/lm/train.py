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
TensorBoard and one console line; every ``checkpoint_every_steps`` (and at
the end, and on SIGINT/SIGTERM) a checkpoint is saved; at the end the model
writes a short sample and the run prints a summary line. The resolved
configuration is written to ``<workdir>/config.json`` when a run starts.

Modes. ``--config.mode=sample`` prints text from a trained model (the
latest checkpoint or ``config.step``'s; the EMA params when there are),
decoding with a key/value cache; ``--config.mode=eval`` measures the whole
validation text: nats and bits per byte, perplexity.
"""

import inspect
import math
import signal
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
from examples.lm.configs.default import OPTIMIZERS
from tsx.matrix import DimensionNumbers

MATRIX_OPTIMIZERS = tuple(OPTIMIZERS)
SCHEDULES = ("warmup_cosine", "wsd")
MODES = ("train", "sample", "eval")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class ConfigError(ValueError):
    """A configuration value that cannot work (named with its field)."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped training after ``step``, which was saved."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum
        super().__init__(
            f"interrupted at step {step}; rerun to resume from step {step}"
        )


@flax.struct.dataclass
class TrainMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")


def create_model(
    config: ml_collections.ConfigDict, scan: bool = True, decode: bool = False
):
    return models.Transformer(
        vocab=config.vocab,
        width=config.width,
        layers=config.layers,
        heads=config.heads,
        context=config.context,
        tied=config.tied_embeddings,
        scan=scan,
        decode=decode,
        dtype=DTYPES[config.dtype],
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


def optimizer_kwargs(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The ``config.optimizer_kwargs`` that are set (the others: defaults)."""
    return {k: v for k, v in config.optimizer_kwargs.items() if v is not None}


def matrix_learning_rate(config: ml_collections.ConfigDict):
    """The schedule of the layers' matrices (Muon's updates have their own scale)."""
    peak = config.muon_learning_rate if config.optimizer == "muon" else None
    return create_learning_rate(config, peak or config.learning_rate)


def create_optimizer(config: ml_collections.ConfigDict):
    """``config.optimizer`` on the layers' matrices, AdamW on the rest."""
    lr = create_learning_rate(config, config.learning_rate)
    decay = config.weight_decay

    def adamw(mult: float = 1.0, **kwargs: Any):
        return tsx.optimizers.build(
            "adamw", learning_rate=lambda s: mult * lr(s), weight_decay=decay, **kwargs
        )

    if config.optimizer == "adamw":
        matrix = adamw(**optimizer_kwargs(config))
    else:
        matrix = tsx.optimizers.build(
            config.optimizer,
            learning_rate=matrix_learning_rate(config),
            weight_decay=decay,
            weight_dimension_numbers=_matrix_dims,
            **optimizer_kwargs(config),
        )
    tx = tsx.partition(
        {"matrix": matrix, "embed": adamw(config.embed_lr_mult), "other": adamw()},
        lambda params: jax.tree_util.tree_map_with_path(param_group, params),
    )
    if config.grad_clip:
        tx = tsx.chain(tsx.clip_by_global_norm(config.grad_clip), tx)
    if config.state_bits != 32:
        tx = tsx.quantized_state(tx, bits=config.state_bits)
    if config.master_weights:
        tx = tsx.lowbit.master_weights(tx)
    return tx


def _check_optimizer_kwargs(config: ml_collections.ConfigDict) -> None:
    name = OPTIMIZERS[config.optimizer]
    accepted = inspect.signature(tsx.optimizers.registry()[name].factory).parameters
    for key in optimizer_kwargs(config):
        if key not in accepted:
            takes = sorted(
                k for k, v in config.optimizer_kwargs.items() if k in accepted
            )
            raise ValueError(
                f"config.optimizer_kwargs.{key} is not an argument of "
                f"config.optimizer={config.optimizer!r}; it takes {', '.join(takes)}"
            )


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
            "accumulate_steps",
            "num_steps",
            "eval_every_steps",
            "eval_batches",
            "log_every_steps",
            "checkpoint_every_steps",
            "num_samples",
            "max_checkpoints_to_keep",
        ):
            v.check("config", name, config[name], v.POSITIVE_INT)
        for name in ("sample_chars", "max_new_bytes", "top_k", "seed"):
            v.check("config", name, config[name], v.integer(0))
        for name in ("learning_rate", "muon_learning_rate", "embed_lr_mult"):
            v.check("config", name, config[name], v.POSITIVE)
        for name in ("weight_decay", "grad_clip", "temperature"):
            v.check("config", name, config[name], v.NON_NEGATIVE)
        v.check("config", "top_p", config.top_p, v.PROBABILITY)
        if config.top_p == 0:
            raise ValueError("config.top_p=0 keeps no byte: use a value in (0, 1]")
        v.check("config", "mode", config.mode, v.choice(*MODES))
        v.check("config", "dtype", config.dtype, v.choice(*DTYPES))
        v.check("config", "optimizer", config.optimizer, v.choice(*MATRIX_OPTIMIZERS))
        v.check("config", "schedule", config.schedule, v.choice(*SCHEDULES))
        v.check("config", "state_bits", config.state_bits, v.choice(32, 16, 8, 4))
        v.check("config", "master_weights", config.master_weights, v.choice("", "bf16"))
        v.check("config", "ema_decay", config.ema_decay, v.PROBABILITY)
        v.check("config", "ema_warmup", config.ema_warmup, v.BOOL)
        v.check("config", "warmup_steps", config.warmup_steps, v.STEPS)
        if config.step is not None:
            v.check("config", "step", config.step, v.integer(0))
        if config.sample_temperature is not None:
            v.check(
                "config",
                "sample_temperature",
                config.sample_temperature,
                v.NON_NEGATIVE,
            )
        if config.warmup_steps >= config.num_steps:
            raise ValueError(
                f"config.warmup_steps={config.warmup_steps} leaves no step after the "
                f"warm-up of config.num_steps={config.num_steps}"
            )
        if config.width % config.heads:
            raise ValueError(
                f"config.width={config.width} is not a multiple of "
                f"config.heads={config.heads}"
            )
        if config.zero_axis not in (None, "data"):
            raise ValueError(f"config.zero_axis={config.zero_axis!r}: use 'data'")
        _check_optimizer_kwargs(config)
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
    if config.master_weights:
        params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    params = jax.device_put(params, param_shardings(logical, mesh, config.fsdp))
    return tsx.training.TrainState.create(
        apply_fn=create_model(config).apply,
        params=params,
        tx=create_optimizer(config),
        ema_decay=config.ema_decay or None,
        ema_warmup=bool(config.ema_decay) and config.ema_warmup,
        accumulate_steps=config.accumulate_steps,
        zero_axis=config.zero_axis,
        telemetry=True,
    )


def _keep_likely(logits: jax.Array, top_k: int, top_p: float) -> jax.Array:
    """``logits`` with the bytes outside the top ``k`` / top-``p`` mass at -inf."""
    if top_k:
        kth = jnp.sort(logits, axis=-1)[..., -top_k][..., None]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1:
        ranked = jnp.sort(logits, axis=-1)[..., ::-1]
        probs = jax.nn.softmax(ranked, axis=-1)
        # The most likely bytes until their mass reaches top_p (at least one).
        before = jnp.cumsum(probs, axis=-1) - probs
        cutoff = jnp.min(jnp.where(before < top_p, ranked, jnp.inf), axis=-1)
        logits = jnp.where(logits < cutoff[..., None], -jnp.inf, logits)
    return logits


def generate(
    params: Any,
    config: ml_collections.ConfigDict,
    prompt: np.ndarray,
    length: int,
    *,
    num_samples: int = 1,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
) -> list[str]:
    """``num_samples`` continuations of ``prompt`` (bytes), ``length`` bytes each.

    Decoding keeps every position's keys and values (``decode=True``); when
    the ``config.context`` positions are full, the last half of the text is
    fed again and decoding goes on from there. ``temperature=0``: greedy.
    """
    model = create_model(config, decode=True)
    ctx = config.context
    history = np.tile(
        np.asarray(prompt[-(ctx - 1) :] if len(prompt) else [10]), (num_samples, 1)
    ).astype(np.int32)
    blank = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((num_samples, ctx), jnp.int32))
    )["cache"]

    @jax.jit
    def feed(params, tokens):
        # A fresh cache, then ``tokens``: the logits after the last one.
        cache = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), blank)
        logits, out = model.apply(
            {"params": params, "cache": cache}, tokens, mutable=["cache"]
        )
        return logits[:, -1], out["cache"]

    @jax.jit
    def step(params, cache, token, key):
        logits, out = model.apply(
            {"params": params, "cache": cache}, token[:, None], mutable=["cache"]
        )
        return out["cache"], pick(logits[:, -1], key)

    @jax.jit
    def pick(logits, key):
        if temperature == 0:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        logits = _keep_likely(logits / temperature, top_k, top_p)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    key = jax.random.key(seed)
    logits, cache = feed(params, jnp.asarray(history))
    used = history.shape[1]
    key, sub = jax.random.split(key)
    token = pick(logits, sub)
    out = []
    for _ in range(length):
        out.append(np.asarray(token))
        key, sub = jax.random.split(key)
        if used == ctx:  # full: start again from the last half of the text
            recent = np.concatenate([history, np.stack(out, 1)], axis=1)[:, -ctx // 2 :]
            logits, cache = feed(params, jnp.asarray(recent))
            token, used = pick(logits, sub), recent.shape[1]
        else:
            cache, token = step(params, cache, token, sub)
            used += 1
    new = np.stack(out, 1) if out else np.zeros((num_samples, 0), np.int32)
    return [bytes(row.tolist()).decode("utf-8", errors="replace") for row in new]


def sample(state, config, prompt: np.ndarray, length: int) -> str:
    """``length`` bytes after ``prompt``, at ``config.temperature``, seeded."""
    return generate(
        jax.device_get(state.params),
        config,
        prompt,
        length,
        temperature=_temperature(config),
        top_k=config.top_k,
        top_p=config.top_p,
        seed=config.seed,
    )[0]


def _temperature(config: ml_collections.ConfigDict) -> float:
    if config.sample_temperature is not None:  # the field's earlier name
        logging.warning(
            "config.sample_temperature is deprecated; use config.temperature."
        )
        return config.sample_temperature
    return config.temperature


def evaluate(state, valid: list[np.ndarray], batch_sharding) -> dict[str, float]:
    """Mean loss (nats per byte) and bits per byte on the ``valid`` batches."""
    record = {}
    for name, params in (
        ("valid", state.params),
        ("ema_valid", None if state.ema is None else state.ema.params),
    ):
        if params is not None:
            losses = [
                eval_step(state, params, jax.device_put(b, batch_sharding))
                for b in valid
            ]
            record[f"{name}_loss"] = float(np.mean(losses))
            record[f"{name}_bits_per_byte"] = record[f"{name}_loss"] / math.log(2)
    return record


def evaluate_text(apply_fn, params, text: np.ndarray, config) -> dict[str, float]:
    """Every byte of ``text`` after the first, predicted from the bytes before it
    in its window of ``config.context``: nats and bits per byte, perplexity."""
    ctx = config.context
    starts = np.arange((len(text) - 1) // ctx) * ctx
    total, count = 0.0, 0
    mean_loss = jax.jit(lambda p, b: loss_fn(p, apply_fn, b))
    for i in range(0, len(starts), config.batch_size):
        batch = input_pipeline.windows(text, starts[i : i + config.batch_size], ctx)
        predicted = batch.shape[0] * ctx
        total += float(mean_loss(params, jnp.asarray(batch))) * predicted
        count += predicted
    nats = total / count
    return {
        "bytes": count,
        "nats_per_byte": nats,
        "bits_per_byte": nats / math.log(2),
        "perplexity": math.exp(nats),
    }


def _merge(total: TrainMetrics | None, new: TrainMetrics) -> TrainMetrics:
    return new if total is None else total.merge(new)


def _mesh():
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))


def write_config(config: ml_collections.ConfigDict, workdir: Path) -> Path:
    """``<workdir>/config.json``: the configuration a run was started with."""
    path = workdir / "config.json"
    if jax.process_index() == 0:
        path.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    return path


def restore_for_use(config: ml_collections.ConfigDict, workdir: str):
    """The trained state of ``workdir`` (``config.step``'s or the latest)."""
    directory = Path(workdir).expanduser().absolute() / "checkpoints"
    if not directory.is_dir():
        raise ConfigError(
            f"no checkpoints in {directory}: train first (--config.mode=train)"
        )
    mesh = _mesh()
    with (
        jax.set_mesh(mesh),
        tsx.training.CheckpointManager(directory) as checkpoints,
    ):
        if checkpoints.latest_step() is None:
            raise ConfigError(
                f"no checkpoints in {directory}: train first (--config.mode=train)"
            )
        if config.step is not None and config.step not in checkpoints.all_steps():
            raise ConfigError(
                f"config.step={config.step}: {directory} holds steps "
                f"{checkpoints.all_steps()}"
            )
        return checkpoints.restore(create_train_state(config, mesh), step=config.step)


def _use_params(state) -> tuple[Any, str]:
    if state.ema is not None:
        return jax.device_get(state.ema.params), "EMA params"
    return jax.device_get(state.params), "params"


def sample_from_workdir(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
    """``--config.mode=sample``: print ``config.num_samples`` continuations."""
    state = restore_for_use(config, workdir)
    params, which = _use_params(state)
    prompt = config.prompt.encode("utf-8")
    if any(b >= config.vocab for b in prompt):
        raise ConfigError(f"config.prompt has bytes >= config.vocab={config.vocab}")
    start = time.perf_counter()
    texts = generate(
        params,
        config,
        np.frombuffer(prompt, np.uint8),
        config.max_new_bytes,
        num_samples=config.num_samples,
        temperature=_temperature(config),
        top_k=config.top_k,
        top_p=config.top_p,
        seed=config.seed,
    )
    seconds = time.perf_counter() - start
    print(
        f"step {int(state.step)} ({which}), temperature {_temperature(config)}, "
        f"top_k {config.top_k}, top_p {config.top_p}; "
        f"{config.num_samples} x {config.max_new_bytes} bytes in {seconds:.1f} s"
    )
    for i, text in enumerate(texts):
        print(f"--- sample {i + 1} ---\n{config.prompt}{text}")
    return texts


def eval_from_workdir(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """``--config.mode=eval``: the whole validation text, one line per params."""
    state = restore_for_use(config, workdir)
    _, valid_text, source = input_pipeline.load(config)
    results = {}
    apply_fn = create_model(config).apply
    candidates = [("params", state.params)]
    if state.ema is not None:
        candidates.append(("EMA params", state.ema.params))
    for which, params in candidates:
        r = evaluate_text(apply_fn, jax.device_get(params), valid_text, config)
        results[which] = r
        print(
            f"step {int(state.step)} ({which}) on the validation text of {source}: "
            f"{r['nats_per_byte']:.4f} nats/byte, {r['bits_per_byte']:.4f} "
            f"bits/byte, perplexity {r['perplexity']:.3f} ({r['bytes']:,} bytes)"
        )
    return results


def _per_device_bytes(tree: Any) -> int:
    used: dict[Any, int] = {}
    for leaf in jax.tree.leaves(tree):
        for shard in getattr(leaf, "addressable_shards", ()):
            used[shard.device] = used.get(shard.device, 0) + shard.data.nbytes
    return max(used.values(), default=0)


class _Signals:
    """Notes SIGINT and SIGTERM instead of stopping at once (main thread only)."""

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


def _eval_line(step: int, config, train_loss: float, record: dict) -> str:
    parts = [f"train {train_loss:.4f}"]
    parts += [
        f"{name} {record[name + '_loss']:.4f} nats/byte "
        f"({record[name + '_bits_per_byte']:.3f} bits/byte)"
        for name in ("valid", "ema_valid")
        if name + "_loss" in record
    ]
    parts.append(f"{record['tokens_per_sec']:,.0f} tokens/s")
    return f"step {step}/{config.num_steps}: " + ", ".join(parts)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
    """Train for ``config.num_steps`` steps, resuming from ``workdir``.

    Returns the final state and one dict of metrics per evaluation. Raises
    :class:`Interrupted` after saving when SIGINT or SIGTERM arrives.
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
    mesh = _mesh()
    batch_sharding = NamedSharding(mesh, P("data"))
    workdir.mkdir(parents=True, exist_ok=True)
    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0
    )
    learning_rate = create_learning_rate(config, config.learning_rate)
    matrix_lr = matrix_learning_rate(config)
    history = []
    run_start = time.perf_counter()
    with (
        jax.set_mesh(mesh),
        tsx.training.CheckpointManager(
            workdir / "checkpoints", max_to_keep=config.max_checkpoints_to_keep
        ) as checkpoints,
        _Signals() as signals,
    ):
        state = create_train_state(config, mesh)
        if checkpoints.latest_step() is not None:
            state = checkpoints.restore(state)
            logging.info("Resumed at step %d.", state.step)
        else:
            writer.write_hparams(config.to_dict())
            logging.info(
                "Configuration (in %s):\n%s", write_config(config, workdir), config
            )
        logging.info(parameter_overview.get_parameter_overview(state.params))
        n = sum(x.size for x in jax.tree.leaves(state.params))
        logging.info(
            "%s parameters; optimizer state %s bytes, %s per device.",
            f"{n:,}",
            f"{tsx.lowbit.state_bytes(state.opt_state):,}",
            f"{_per_device_bytes(state.opt_state):,}",
        )
        if int(state.step) >= config.num_steps:
            record = evaluate(state, valid, batch_sharding)
            logging.info(
                "The run in %s is finished (step %d of %d): %s.",
                workdir,
                int(state.step),
                config.num_steps,
                ", ".join(f"{k} {v:.4f}" for k, v in record.items()),
            )
            writer.close()
            return state, [{"step": int(state.step), **record}]
        progress = periodic_actions.ReportProgress(
            num_train_steps=config.num_steps, writer=writer, every_secs=60
        )
        start, tokens = time.perf_counter(), 0
        since_log = since_eval = None  # train metrics since the last log / eval
        for step in range(int(state.step) + 1, config.num_steps + 1):
            k = config.accumulate_steps
            for micro in range(k):
                # Micro-batches are numbered 1, 2, ... (the steps when k = 1).
                number = (step - 1) * k + micro + 1
                batch = input_pipeline.train_batch(train_text, number, config)
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
                if config.optimizer == "muon":
                    scalars["learning_rate/muon"] = matrix_lr(step - 1)
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
                logging.info("%s", _eval_line(step, config, train_loss, record))
            last = step == config.num_steps
            if step % config.checkpoint_every_steps == 0 or last or signals.received:
                checkpoints.save(step, state, force=True)
            if signals.received and not last:
                checkpoints.wait_until_finished()
                writer.close()
                raise Interrupted(step, signals.received)
    if history and config.sample_chars:
        prompt = valid_text[: config.context]
        text = sample(state, config, prompt, config.sample_chars)
        logging.info(
            "Sample after %d bytes of validation text:\n%s%s",
            len(prompt),
            bytes(prompt).decode("utf-8", errors="replace"),
            text,
        )
        history[-1]["sample"] = text
    if history:
        final = history[-1]
        logging.info(
            "Done: %d steps in %.0f s; validation %.4f nats/byte (%.3f bits/byte).",
            config.num_steps,
            time.perf_counter() - run_start,
            final["valid_loss"],
            final["valid_bits_per_byte"],
        )
    writer.close()
    return state, history
