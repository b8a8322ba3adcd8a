"""ImageNet training and evaluation: a Linen ResNet trained with tsx on a device mesh.

Scale. One mesh axis, ``"data"``, spans every device of every host
(``jax.distributed`` joins the hosts; see ``main.py``). Each host feeds its
own part of the global batch, which becomes one global array split over the
devices (``NamedSharding(mesh, P("data"))``); the train and eval steps are
plain ``jax.jit`` programs that XLA partitions (GSPMD), so BatchNorm's batch
statistics are those of the whole global batch. The train state (parameters,
batch statistics, their EMA and the optimizer state) is either replicated on
every device or, with ``config.state_sharding="sharded"``, split along one
dimension of each large array (ZeRO-3 / FSDP style: XLA gathers parameters
where the step needs them and reduce-scatters the gradients).

Recipe. :func:`create_optimizer` builds ``config.optimizer`` by name with
``tsx.optimizers.build`` (SGD with Nesterov momentum by default) on a
:func:`create_learning_rate_fn` schedule (linear warm-up, cosine decay), with
weight decay on kernels only (``tsx.masks.decay_mask``). The state is a
``tsx.training.TrainState`` carrying the batch statistics, an EMA of
parameters and statistics (evaluated next to the parameters), and for
float16 a dynamic loss scale that skips non-finite steps.

Loop. :func:`train_and_evaluate` writes metrics through CLU (TensorBoard on
the first host, logs on all), profiles a few steps, evaluates every
``eval_every_steps`` and checkpoints (``tsx.training.CheckpointManager``:
Orbax, verified on restore) every ``checkpoint_every_steps``, at the end, and
when the job receives SIGTERM (preemption). Rerunning the same command resumes
from the latest checkpoint, with the data stream where it stopped: the result
is the same as an uninterrupted run's.
"""

import collections
import functools
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, metrics, parameter_overview, periodic_actions
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import tsx
from examples.imagenet import input_pipeline, models

__all__ = [
    "DTYPES",
    "ConfigError",
    "EvalMetrics",
    "LossScaledTrainMetrics",
    "TrainMetrics",
    "create_learning_rate_fn",
    "create_mesh",
    "create_model",
    "create_optimizer",
    "create_train_state",
    "check_config",
    "cross_entropy_loss",
    "eval_step",
    "evaluate",
    "make_steps",
    "state_shardings",
    "train_and_evaluate",
    "train_step",
]

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}

# The mesh axis the batch (and, when sharded, the state) is split along.
DATA_AXIS = "data"


# --------------------------------------------------------------------------
# Metrics. (No `from __future__ import annotations` in this module: CLU reads
# the metric classes' annotations as classes, not strings.)


def _top5(logits: jax.Array, labels: jax.Array, **_: Any) -> jax.Array:
    """1.0 where the label is among the five largest logits."""
    top = jax.lax.top_k(logits, 5)[1]
    return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


@flax.struct.dataclass
class TrainMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy
    learning_rate: metrics.LastValue.from_output("learning_rate")
    grad_norm: metrics.Average.from_output("grad_norm")


@flax.struct.dataclass
class LossScaledTrainMetrics(metrics.Collection):
    """:class:`TrainMetrics` plus the float16 loss scale and the skipped steps."""

    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy
    learning_rate: metrics.LastValue.from_output("learning_rate")
    grad_norm: metrics.Average.from_output("grad_norm")
    loss_scale: metrics.LastValue.from_output("loss_scale")
    skipped_steps: metrics.LastValue.from_output("skipped_steps")


@flax.struct.dataclass
class EvalMetrics(metrics.Collection):
    loss: metrics.Average.from_output("loss")
    accuracy: metrics.Accuracy
    top5_accuracy: metrics.Average.from_fun(_top5)


def cross_entropy_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy ``-log softmax(logits)[label]`` (float32)."""
    return tsx.losses.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), labels
    )


# --------------------------------------------------------------------------
# Model, schedule and optimizer from the config.

SCHEDULES = ("constant", "cosine", "warmup_cosine")


class ConfigError(ValueError):
    """A configuration value that cannot work (named with its field)."""


def create_model(config: ml_collections.ConfigDict) -> models.ResNet:
    """The ResNet ``config.model`` names, at ``config.dtype``."""
    return models.MODELS[config.model](
        num_classes=config.num_classes,
        num_filters=config.num_filters,
        dtype=DTYPES[config.dtype],
    )


def create_learning_rate_fn(
    config: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int
) -> Callable[[jax.Array], jax.Array]:
    """The schedule ``config.schedule`` over ``num_steps`` optimizer steps.

    The peak is ``learning_rate * batch_size / base_batch_size`` (the linear
    scaling rule of Goyal et al., 2017). ``"warmup_cosine"`` rises linearly
    from 0 over ``warmup_epochs`` and then follows
    ``peak * (1 + cos(pi * t)) / 2`` down to 0 at the last step (``t`` the
    fraction of the decay done).
    """
    peak = config.learning_rate
    if config.base_batch_size:
        peak *= config.batch_size / config.base_batch_size
    if config.schedule == "cosine":
        return tsx.cosine_decay_schedule(peak, decay_steps=num_steps)
    if config.schedule == "warmup_cosine":
        return tsx.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=peak,
            warmup_steps=int(config.warmup_epochs * steps_per_epoch),
            decay_steps=num_steps,
        )
    return tsx.constant_schedule(peak)


def create_optimizer(
    config: ml_collections.ConfigDict,
    learning_rate: Callable[[jax.Array], jax.Array] | float,
) -> tsx.GradientTransformation:
    """``config.optimizer`` with its kwargs, learning rate and weight decay.

    The kwargs are ``config.optimizer_kwargs[config.optimizer]`` (the default
    SGD's momentum does not follow a switch to another optimizer). Weight
    decay applies to kernels only (``tsx.masks.decay_mask``); with
    ``weight_decay_mode="auto"`` it is the optimizer's own decoupled decay
    where it has one (AdamW, Loshchilov & Hutter, 2019) and otherwise
    ``weight_decay * params`` added to the gradient (L2 regularisation of the
    loss, the classic SGD recipe for ResNets).
    """
    decay = config.weight_decay or None
    return tsx.optimizers.build(
        config.optimizer,
        learning_rate=learning_rate,
        weight_decay=decay,
        weight_decay_mode=config.weight_decay_mode,
        weight_decay_mask=tsx.masks.decay_mask if decay else None,
        **config.optimizer_kwargs.get(config.optimizer, {}),
    )


def check_config(config: ml_collections.ConfigDict) -> None:
    """Raise :class:`ConfigError` for a value that cannot work, before any data."""
    v = tsx.validation
    try:  # tsx's own checks name the field and the value
        for name in ("batch_size", "eval_batch_size", "num_classes", "image_size"):
            v.check("config", name, config[name], v.POSITIVE_INT)
        for name in ("log_every_steps", "checkpoint_every_steps", "num_filters"):
            v.check("config", name, config[name], v.POSITIVE_INT)
        choices = {
            "model": models.MODELS,
            "dtype": DTYPES,
            "schedule": SCHEDULES,
            "state_sharding": ("replicated", "zero", "sharded"),
        }
        for name, allowed in choices.items():
            v.check("config", name, config[name], v.choice(*allowed))
        v.check("config", "ema_decay", config.ema_decay, v.PROBABILITY)
        v.check("config", "learning_rate", config.learning_rate, v.NON_NEGATIVE)
        v.check("config", "weight_decay", config.weight_decay, v.NON_NEGATIVE)
        create_optimizer(config, learning_rate=0.1)  # name and hyperparameters
    except (TypeError, ValueError) as err:
        raise ConfigError(err) from None


# --------------------------------------------------------------------------
# Mesh, state and shardings.


def create_mesh() -> jax.sharding.Mesh:
    """A one-axis mesh (``"data"``) over every device of every host."""
    return jax.make_mesh(
        (jax.device_count(),), (DATA_AXIS,), axis_types=(AxisType.Auto,)
    )


def create_train_state(
    config: ml_collections.ConfigDict, model: models.ResNet, tx: Any
) -> tsx.training.TrainState:
    """A fresh state: initialised variables, optimizer state, EMA, loss scale.

    Meant to run under ``jax.jit`` (see :func:`train_and_evaluate`), which
    places every array directly where :func:`state_shardings` says.
    """
    rng = jax.random.key(config.seed, impl=config.rng_impl)
    image = jnp.ones((1, config.image_size, config.image_size, 3), model.dtype)
    variables = model.init(rng, image, train=False)
    float16 = config.dtype == "float16"
    loss_scale = (
        tsx.training.DynamicLossScale(
            config.loss_scale_init, growth_interval=config.loss_scale_growth_interval
        )
        if float16
        else None
    )
    return tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=tx,
        ema_decay=config.ema_decay or None,
        ema_warmup=bool(config.ema_decay) and config.ema_warmup,
        loss_scale=loss_scale,
        skip_nonfinite=config.skip_nonfinite or float16,
        telemetry=True,
        zero_axis=DATA_AXIS if config.state_sharding == "zero" else None,
    )


def state_shardings(
    abstract_state: Any, mesh: jax.sharding.Mesh, config: ml_collections.ConfigDict
) -> Any:
    """A ``NamedSharding`` for every leaf of the train state.

    ``"replicated"``: every device holds everything. ``"zero"`` (ZeRO-1): the
    params and batch stats are replicated, the optimizer state and EMA are
    split over the data axis (``TrainState.create(zero_axis=...)`` records
    where). ``"sharded"`` (FSDP): every array of at least
    ``config.shard_min_size`` elements is split over the data axis by
    :func:`tsx.sharding.zero_spec`'s rule (its largest dimension divisible by
    the device count); smaller or indivisible arrays are replicated.
    """
    if config.state_sharding == "zero":
        return abstract_state.shardings()

    def one(x: jax.ShapeDtypeStruct) -> NamedSharding:
        if config.state_sharding == "replicated":
            return NamedSharding(mesh, P())
        spec = tsx.sharding.zero_spec(
            P(), x.shape, mesh, DATA_AXIS, config.shard_min_size
        )
        return NamedSharding(mesh, spec)

    return jax.tree.map(one, abstract_state)


# --------------------------------------------------------------------------
# Steps.


def train_step(
    state: tsx.training.TrainState,
    batch: Mapping[str, jax.Array],
    learning_rate_fn: Callable[[jax.Array], jax.Array],
) -> tuple[tsx.training.TrainState, metrics.Collection]:
    """One optimizer step on the mean cross-entropy of the (global) batch.

    With a loss scale (float16) the gradient is that of the scaled loss,
    unscaled; ``apply_gradients`` skips the update (parameters, optimizer
    state, EMA and batch statistics unchanged) when it is not finite and
    adjusts the scale.
    """

    def loss_fn(params):
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            batch["image"],
            train=True,
            mutable=["batch_stats"],
        )
        loss = cross_entropy_loss(logits, batch["label"])
        return loss.mean(), (loss, logits, updates["batch_stats"])

    (_, (loss, logits, batch_stats)), grads = state.value_and_grad(
        loss_fn, has_aux=True, return_finite=False
    )(state.params)
    learning_rate = learning_rate_fn(state.step)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    scaled = state.guard is not None and state.guard.loss_scale is not None
    cls = LossScaledTrainMetrics if scaled else TrainMetrics
    step_metrics = cls.single_from_model_output(
        loss=loss,
        logits=logits,
        labels=batch["label"],
        learning_rate=learning_rate,
        **state.telemetry,
    )
    return state, step_metrics


def eval_step(
    apply_fn: Callable[..., jax.Array],
    variables: Mapping[str, Any],
    batch: Mapping[str, jax.Array],
) -> EvalMetrics:
    """Loss, top-1 and top-5 accuracy on the batch's real (``mask`` 1) examples."""
    logits = apply_fn(variables, batch["image"], train=False)
    return EvalMetrics.single_from_model_output(
        loss=cross_entropy_loss(logits, batch["label"]),
        logits=logits,
        labels=batch["label"],
        mask=batch["mask"],
    )


def make_steps(
    model: models.ResNet,
    shardings: Any,
    mesh: jax.sharding.Mesh,
    learning_rate_fn: Callable[[jax.Array], jax.Array],
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The jitted ``(train_step, eval_step)`` for states sharded as ``shardings``.

    The train step donates the old state (its buffers are reused for the new
    one); metrics come back replicated.
    """
    replicated = NamedSharding(mesh, P())
    jit_train = jax.jit(
        functools.partial(train_step, learning_rate_fn=learning_rate_fn),
        out_shardings=(shardings, replicated),
        donate_argnums=0,
    )
    jit_eval = jax.jit(
        functools.partial(eval_step, model.apply), out_shardings=replicated
    )
    return jit_train, jit_eval


def _merge(collections_: Iterable[metrics.Collection]) -> metrics.Collection:
    """Merges per-step metric collections on the host (one transfer, no ops)."""
    return functools.reduce(lambda a, b: a.merge(b), jax.device_get(list(collections_)))


def evaluate(
    jit_eval: Callable[..., EvalMetrics],
    variables: Mapping[str, Any],
    batches: Iterable[Mapping[str, jax.Array]],
) -> dict[str, float]:
    """Loss and accuracies of ``variables`` over every real example of ``batches``."""
    summary = _merge(jit_eval(variables, batch) for batch in batches).compute()
    return {k: float(v) for k, v in summary.items()}


def _evaluate_all(
    jit_eval: Callable[..., EvalMetrics],
    state: tsx.training.TrainState,
    data: Any,
    sharding: NamedSharding,
) -> dict[str, float]:
    """``eval_*`` metrics of the state's variables and ``eval_ema_*`` of its EMA."""
    record = {}
    candidates = [("eval", state.variables())]
    if state.ema is not None:
        candidates.append(("eval_ema", state.ema_variables()))
    for prefix, variables in candidates:
        batches = _global_batches(data.eval_batches(), sharding, prefetch=1)
        summary = evaluate(jit_eval, variables, batches)
        record.update({f"{prefix}_{k}": v for k, v in summary.items()})
    return record


# --------------------------------------------------------------------------
# Host-to-device input.


def _global_batches(
    host_batches: Iterator[Mapping[str, np.ndarray]],
    sharding: NamedSharding,
    prefetch: int,
) -> Iterator[dict[str, jax.Array]]:
    """Each host's local batches as global arrays, ``prefetch`` batches ahead.

    A batch that is the same object as the previous one (fake data) is not
    transferred again.
    """
    queue: collections.deque = collections.deque()
    last: tuple[Any, Any] = (None, None)
    for host in host_batches:
        if host is not last[0]:
            last = (
                host,
                {
                    k: jax.make_array_from_process_local_data(sharding, v)
                    for k, v in host.items()
                },
            )
        queue.append(last[1])
        if len(queue) > prefetch:
            yield queue.popleft()
    yield from queue


# --------------------------------------------------------------------------
# Preemption.


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped training after ``step``, which was saved."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum
        super().__init__(
            f"interrupted at step {step}; rerun to resume from step {step}"
        )


class _Preemption:
    """Notices SIGTERM and SIGINT: save a checkpoint at the next step boundary
    and stop.

    With several hosts JAX's preemption service (started by
    ``jax.distributed.initialize``) receives the signal on any host and Orbax
    agrees on a step at which every host saves. A single process gets no such
    notice from Orbax, hence the Python signal handler that sets a flag.
    """

    def __init__(self, checkpoints: tsx.training.CheckpointManager):
        self._checkpoints = checkpoints
        self._multihost = jax.process_count() > 1
        self._requested = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        try:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
            if not self._multihost:
                self._previous[signal.SIGTERM] = signal.signal(
                    signal.SIGTERM, self._handle
                )
        except ValueError:  # not the main thread: no handler possible
            logging.warning("Not in the main thread: SIGINT/SIGTERM are not watched.")
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        del frame
        self._requested, self.signum = True, signum

    def reached(self, step: int) -> bool:
        """Whether to save and stop after ``step`` (call it at every step)."""
        if self._multihost and self._checkpoints.reached_preemption(step):
            self.signum = self.signum or signal.SIGTERM
            return True
        return self._requested

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# --------------------------------------------------------------------------
# The whole run.


def _with_shardings(abstract: Any, shardings: Any) -> Any:
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract,
        shardings,
    )


def _check_writable(workdir: Path) -> None:
    """Fail before loading data if ``workdir`` cannot be created or written."""
    existing = next(p for p in (workdir, *workdir.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(13, "not a writable folder", str(existing))


def _run_length(config: ml_collections.ConfigDict, data: Any) -> tuple[int, int]:
    """``(num_steps, eval_every)`` in optimizer steps."""
    steps_per_epoch = data.steps_per_epoch
    num_steps = config.num_train_steps
    if num_steps <= 0:
        num_steps = int(config.num_epochs * steps_per_epoch)
    eval_every = config.eval_every_steps
    return num_steps, eval_every if eval_every > 0 else steps_per_epoch


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> tuple[tsx.training.TrainState, list[dict[str, Any]]]:
    """Trains to ``config``'s last step, resuming from ``workdir``'s checkpoint.

    Args:
      config: hyperparameters (see ``configs/default.py``).
      workdir: where checkpoints (``workdir/checkpoints``) and TensorBoard
        event files go; the same path on every host.

    Returns:
      The final (or, after SIGTERM, the saved) train state and, for every
      logging or evaluation step of this call, a dict of its metrics.
    """
    check_config(config)
    workdir_path = Path(workdir).expanduser().absolute()
    _check_writable(workdir_path)
    data = input_pipeline.create_input(
        config,
        dtype=config.dtype,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        device_count=jax.device_count(),
    )
    num_steps, eval_every = _run_length(config, data)
    learning_rate_fn = create_learning_rate_fn(config, data.steps_per_epoch, num_steps)
    model = create_model(config)
    logging.info("Config:\n%s", config)
    logging.info(
        "%s on %d devices (%d hosts, this is %d: %r); global batch %d, %d steps"
        " (%d per epoch).",
        config.model,
        jax.device_count(),
        jax.process_count(),
        jax.process_index(),
        jax.local_devices(),
        config.batch_size,
        num_steps,
        data.steps_per_epoch,
    )

    mesh = create_mesh()
    tx = create_optimizer(config, learning_rate_fn)
    init = functools.partial(create_train_state, config, model, tx)
    with jax.set_mesh(mesh):  # zero_axis finds the mesh here
        abstract_state = jax.eval_shape(init)
    shardings = state_shardings(abstract_state, mesh, config)
    batch_sharding = NamedSharding(mesh, P(DATA_AXIS))
    jit_train, jit_eval = make_steps(model, shardings, mesh, learning_rate_fn)

    workdir_path.mkdir(parents=True, exist_ok=True)
    writer = metric_writers.create_default_writer(
        str(workdir_path), just_logging=jax.process_index() > 0, asynchronous=True
    )
    checkpoints = tsx.training.CheckpointManager(
        workdir_path / "checkpoints",
        max_to_keep=config.max_checkpoints_to_keep,
        save_interval_steps=config.checkpoint_every_steps,
        async_save=config.async_checkpointing,
    )
    history: list[dict[str, Any]] = []
    train_batches = None
    try:
        if checkpoints.latest_step() is not None:
            # The newest step that verifies, placed as `shardings` say.
            state = checkpoints.restore(_with_shardings(abstract_state, shardings))
            start_step = int(state.step)
            logging.info("Resumed at step %d.", start_step)
            if start_step >= num_steps:
                logging.info(
                    "Nothing to do: already trained for %d of %d steps. Use a new"
                    " --workdir, or raise config.num_train_steps or num_epochs.",
                    start_step,
                    num_steps,
                )
        else:
            start_step = 0
            with jax.set_mesh(mesh):
                state = jax.jit(init, out_shardings=shardings)()
            parameter_overview.log_parameter_overview(
                state.params, include_stats="sharding", jax_logging_process=0
            )
            writer.write_hparams(config.to_dict())
            if jax.process_index() == 0:
                (workdir_path / "config.json").write_text(
                    config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
                )
            logging.info(
                "Configuration (in %s):\n%s", workdir_path / "config.json", config
            )

        # steps_per_sec (times batch_size: images/s) and the time spent in eval.
        report_progress = periodic_actions.ReportProgress(
            num_train_steps=num_steps, writer=writer, every_steps=config.log_every_steps
        )
        hooks: list[Callable[[int], Any]] = [report_progress]
        if jax.process_index() == 0 and config.num_profile_steps > 0:
            hooks.append(
                periodic_actions.Profile(
                    num_profile_steps=config.num_profile_steps,
                    logdir=str(workdir_path),
                )
            )

        train_batches = _global_batches(
            data.train_batches(start_step), batch_sharding, config.device_prefetch
        )
        pending: list[metrics.Collection] = []
        with _Preemption(checkpoints) as preemption:
            for step in range(start_step + 1, num_steps + 1):
                with jax.profiler.StepTraceAnnotation("train", step_num=step):
                    state, step_metrics = jit_train(state, next(train_batches))
                pending.append(step_metrics)
                for hook in hooks:
                    hook(step)
                last = step == num_steps

                if step % config.log_every_steps == 0 or last:
                    summary = _merge(pending).compute()
                    pending = []
                    record = {f"train_{k}": float(v) for k, v in summary.items()}
                    writer.write_scalars(step, record)
                    history.append({"step": step, **record})

                if step % eval_every == 0 or last:
                    with report_progress.timed("eval"):
                        record = _evaluate_all(jit_eval, state, data, batch_sharding)
                    writer.write_scalars(step, record)
                    history.append({"step": step, **record})
                    logging.info(
                        "step %d: %s",
                        step,
                        ", ".join(f"{k} {v:.4f}" for k, v in record.items()),
                    )

                preempted = preemption.reached(step)
                checkpoints.save(step, state, force=last or preempted)
                if preempted and not last:
                    checkpoints.wait_until_finished()
                    raise Interrupted(step, preemption.signum or signal.SIGTERM)
        checkpoints.wait_until_finished()
    finally:
        if train_batches is not None:
            train_batches.close()
        checkpoints.close()
        writer.flush()
        writer.close()
    return state, history
