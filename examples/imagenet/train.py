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

Recipe. :func:`create_optimizer` builds ``config.optimizer`` by name through
``tsx.optimizers.get`` (SGD with Nesterov momentum by default) on a
:func:`create_learning_rate_fn` schedule (linear warm-up, cosine decay), with
weight decay on kernels only (``tsx.masks.decay_mask``). The state is a
``tsx.training.TrainState`` carrying the batch statistics, an EMA of
parameters and statistics (evaluated next to the parameters), and for
float16 a dynamic loss scale that skips non-finite steps.

Loop. :func:`train_and_evaluate` writes metrics through CLU (TensorBoard on
the first host, logs on all), profiles a few steps, evaluates every
``eval_every_steps`` and checkpoints with Orbax every
``checkpoint_every_steps``, at the end, and when the job receives SIGTERM
(preemption). Rerunning the same command resumes from the latest checkpoint,
with the data stream where it stopped: the result is the same as an
uninterrupted run's.
"""

import collections
import functools
import inspect
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Self

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from clu import metric_writers, metrics, parameter_overview, periodic_actions
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import tsx
from examples.imagenet import input_pipeline, models

__all__ = [
    "DTYPES",
    "CheckpointMismatchError",
    "EvalMetrics",
    "LossScaledTrainMetrics",
    "TrainMetrics",
    "create_learning_rate_fn",
    "create_mesh",
    "create_model",
    "create_optimizer",
    "create_train_state",
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


def create_model(config: ml_collections.ConfigDict) -> models.ResNet:
    """The ResNet ``config.model`` names, at ``config.dtype``."""
    if config.model not in models.MODELS:
        raise ValueError(
            f"config.model={config.model!r}: expected one of {sorted(models.MODELS)}"
        )
    if config.dtype not in DTYPES:
        raise ValueError(
            f"config.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}"
        )
    return models.MODELS[config.model](
        num_classes=config.num_classes,
        num_filters=config.num_filters,
        dtype=DTYPES[config.dtype],
    )


def create_learning_rate_fn(
    config: ml_collections.ConfigDict,
    steps_per_epoch: int,
    num_steps: int,
    lib: ModuleType = tsx,
) -> Callable[[jax.Array], jax.Array]:
    """The schedule ``config.schedule`` over ``num_steps`` optimizer steps.

    The peak is ``learning_rate * batch_size / base_batch_size`` (the linear
    scaling rule of Goyal et al., 2017). ``"warmup_cosine"`` rises linearly
    from 0 over ``warmup_epochs`` and then follows
    ``peak * (1 + cos(pi * t)) / 2`` down to 0 at the last step (``t`` the
    fraction of the decay done). ``lib`` is the library the schedule comes
    from (tsx, or Optax for the benchmark's comparison).
    """
    peak = config.learning_rate
    if config.base_batch_size:
        peak *= config.batch_size / config.base_batch_size
    if config.schedule == "constant":
        return lib.constant_schedule(peak)
    if config.schedule == "cosine":
        return lib.cosine_decay_schedule(peak, decay_steps=num_steps)
    if config.schedule == "warmup_cosine":
        return lib.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=peak,
            warmup_steps=int(config.warmup_epochs * steps_per_epoch),
            decay_steps=num_steps,
        )
    raise ValueError(
        f"config.schedule={config.schedule!r}: expected 'warmup_cosine', 'cosine'"
        " or 'constant'"
    )


def _resolve(name: str, lib: ModuleType) -> Callable[..., Any]:
    """The optimizer function ``name`` ("sgd", "contrib.muon") in ``lib``."""
    obj: Any = lib
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(
                f"config.optimizer={name!r}: {lib.__name__} has no such optimizer"
            )
    return obj


def create_optimizer(
    config: ml_collections.ConfigDict,
    learning_rate: Callable[[jax.Array], jax.Array] | float,
    lib: ModuleType = tsx,
) -> tsx.GradientTransformation:
    """``config.optimizer`` with ``config.optimizer_kwargs`` and weight decay.

    ``config.weight_decay > 0`` decays kernels only (``tsx.masks.decay_mask``
    leaves biases and BatchNorm scales alone): through the optimizer's own
    ``weight_decay``/``mask`` arguments when it has both (decoupled decay,
    Loshchilov & Hutter, 2019), otherwise by adding ``weight_decay * params``
    to the gradient first, which for SGD is L2 regularisation of the loss
    (``weight_decay / 2 * ||w||^2``), the classic ResNet recipe.

    ``lib`` is the library the optimizer is built from: tsx (through
    ``tsx.optimizers.get``), or a module with the same API such as Optax,
    which is how ``benchmarks/imagenet_throughput.py`` compares the two.
    """
    kwargs = dict(config.optimizer_kwargs or {})
    weight_decay = config.weight_decay
    accepted = inspect.signature(_resolve(config.optimizer, lib)).parameters
    decoupled = weight_decay > 0 and {"weight_decay", "mask"} <= set(accepted)
    if decoupled:
        kwargs.update(weight_decay=weight_decay, mask=tsx.masks.decay_mask)
    if lib is tsx:
        tx = tsx.optimizers.get(config.optimizer, learning_rate=learning_rate, **kwargs)
    else:
        tx = _resolve(config.optimizer, lib)(learning_rate=learning_rate, **kwargs)
    if weight_decay > 0 and not decoupled:
        tx = lib.chain(
            lib.add_decayed_weights(weight_decay, mask=tsx.masks.decay_mask), tx
        )
    return tx


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
    )


def state_shardings(
    abstract_state: Any, mesh: jax.sharding.Mesh, config: ml_collections.ConfigDict
) -> Any:
    """A ``NamedSharding`` for every leaf of the train state.

    ``"replicated"``: every device holds everything. ``"sharded"``: an array of
    at least ``config.shard_min_size`` elements is split over the data axis
    along its largest dimension divisible by the number of devices (the
    optimizer state and EMA, shaped like the parameters, follow the same
    rule); smaller or indivisible arrays are replicated.
    """
    if config.state_sharding not in ("replicated", "sharded"):
        raise ValueError(
            f"config.state_sharding={config.state_sharding!r}: expected"
            " 'replicated' or 'sharded'"
        )
    n = mesh.shape[DATA_AXIS]

    def one(x: jax.ShapeDtypeStruct) -> NamedSharding:
        if config.state_sharding == "sharded" and x.size >= config.shard_min_size:
            for dim in sorted(range(x.ndim), key=lambda d: -x.shape[d]):
                if x.shape[dim] % n == 0:
                    spec = [None] * x.ndim
                    spec[dim] = DATA_AXIS
                    return NamedSharding(mesh, P(*spec))
        return NamedSharding(mesh, P())

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
    cls = LossScaledTrainMetrics if state.loss_scale is not None else TrainMetrics
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
    if state.ema_params is not None:
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


class _Preemption:
    """Notices SIGTERM: save a checkpoint at the next step boundary and stop.

    With several hosts JAX's preemption service (started by
    ``jax.distributed.initialize``) receives the signal on any host and agrees
    on a step at which every host saves; alone, a Python signal handler sets a
    flag.
    """

    def __init__(self, checkpoints: ocp.CheckpointManager):
        self._checkpoints = checkpoints
        self._multihost = jax.process_count() > 1
        self._requested = False
        self._previous: Any = None

    def __enter__(self) -> Self:
        if not self._multihost:
            try:
                self._previous = signal.signal(signal.SIGTERM, self._handle)
            except ValueError:  # not the main thread: no handler possible
                logging.warning("Not in the main thread: SIGTERM is not watched.")
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        del signum, frame
        logging.warning("SIGTERM: saving a checkpoint after this step, then stopping.")
        self._requested = True

    def reached(self, step: int) -> bool:
        """Whether to save and stop after ``step`` (call it at every step)."""
        if self._multihost:
            return self._checkpoints.reached_preemption(step)
        return self._requested

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


# --------------------------------------------------------------------------
# The whole run.


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


class CheckpointMismatchError(ValueError):
    """The workdir's checkpoint cannot be restored into this config's state."""


def _with_shardings(abstract: Any, shardings: Any) -> Any:
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract,
        shardings,
    )


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, tx: Any = None
) -> tuple[tsx.training.TrainState, list[dict[str, Any]]]:
    """Trains to ``config``'s last step, resuming from ``workdir``'s checkpoint.

    Args:
      config: hyperparameters (see ``configs/default.py``).
      workdir: where checkpoints (``workdir/checkpoints``) and TensorBoard
        event files go; the same path on every host.
      tx: an optimizer to use instead of the one ``config`` describes (any
        object with Optax's ``init``/``update`` protocol).

    Returns:
      The final (or, after SIGTERM, the saved) train state and, for every
      logging or evaluation step of this call, a dict of its metrics.
    """
    workdir_path = Path(workdir).expanduser().absolute()
    mesh = create_mesh()
    data = input_pipeline.create_input(
        config,
        dtype=config.dtype,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        device_count=jax.device_count(),
    )
    steps_per_epoch = data.steps_per_epoch
    num_steps = (
        config.num_train_steps
        if config.num_train_steps > 0
        else int(config.num_epochs * steps_per_epoch)
    )
    eval_every = (
        config.eval_every_steps if config.eval_every_steps > 0 else steps_per_epoch
    )
    learning_rate_fn = create_learning_rate_fn(config, steps_per_epoch, num_steps)
    if tx is None:
        tx = create_optimizer(config, learning_rate_fn)
    model = create_model(config)
    logging.info(
        "%s on %d devices (%d hosts); global batch %d, %d steps (%d per epoch).",
        config.model,
        jax.device_count(),
        jax.process_count(),
        config.batch_size,
        num_steps,
        steps_per_epoch,
    )

    init = functools.partial(create_train_state, config, model, tx)
    abstract_state = jax.eval_shape(init)
    shardings = state_shardings(abstract_state, mesh, config)
    batch_sharding = NamedSharding(mesh, P(DATA_AXIS))
    jit_train, jit_eval = make_steps(model, shardings, mesh, learning_rate_fn)

    workdir_path.mkdir(parents=True, exist_ok=True)
    writer = metric_writers.create_default_writer(
        str(workdir_path), just_logging=jax.process_index() > 0, asynchronous=True
    )
    checkpoints = ocp.CheckpointManager(
        workdir_path / "checkpoints",
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.max_checkpoints_to_keep,
            create=True,
            enable_async_checkpointing=config.async_checkpointing,
        ),
    )
    history: list[dict[str, Any]] = []
    train_batches = None
    try:
        start_step = checkpoints.latest_step() or 0
        if start_step:
            target = _with_shardings(abstract_state, shardings)
            try:
                state = checkpoints.restore(
                    start_step, args=ocp.args.StandardRestore(target)
                )
            except ValueError as e:
                raise CheckpointMismatchError(
                    f"the checkpoint of step {start_step} in {checkpoints.directory}"
                    " does not fit the train state of this config (was it written"
                    " with another model, optimizer, dtype or ema_decay?). Use a new"
                    f" --workdir or the config it was trained with. Orbax says: {e}"
                ) from e
            logging.info(
                "Resumed from %s at step %d.", checkpoints.directory, start_step
            )
            if start_step >= num_steps:
                logging.info(
                    "Already trained for %d steps (of %d): nothing to do. Use a new"
                    " --workdir to train again, or raise config.num_train_steps /"
                    " config.num_epochs to continue.",
                    start_step,
                    num_steps,
                )
        else:
            state = jax.jit(init, out_shardings=shardings)()
            parameter_overview.log_parameter_overview(
                state.params, include_stats="sharding", jax_logging_process=0
            )
            writer.write_hparams(_flat_hparams(config))

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
        last_log = (start_step, time.perf_counter())
        with _Preemption(checkpoints) as preemption:
            for step in range(start_step + 1, num_steps + 1):
                with jax.profiler.StepTraceAnnotation("train", step_num=step):
                    state, step_metrics = jit_train(state, next(train_batches))
                pending.append(step_metrics)
                for hook in hooks:
                    hook(step)
                last = step == num_steps

                if step % config.log_every_steps == 0 or last:
                    summary = {
                        f"train_{k}": float(v)
                        for k, v in _merge(pending).compute().items()
                    }
                    pending = []
                    elapsed = time.perf_counter() - last_log[1]
                    summary["train_images_per_sec"] = (
                        (step - last_log[0]) * config.batch_size / elapsed
                    )
                    last_log = (step, time.perf_counter())
                    writer.write_scalars(step, summary)
                    history.append({"step": step, **summary})

                if step % eval_every == 0 or last:
                    t0 = time.perf_counter()
                    with report_progress.timed("eval"):
                        record = _evaluate_all(jit_eval, state, data, batch_sharding)
                    writer.write_scalars(step, record)
                    history.append({"step": step, **record})
                    logging.info(
                        "step %d: %s",
                        step,
                        ", ".join(f"{k} {v:.4f}" for k, v in record.items()),
                    )
                    # The next throughput figure leaves the evaluation out.
                    last_log = (last_log[0], last_log[1] + time.perf_counter() - t0)

                preempted = preemption.reached(step)
                if step % config.checkpoint_every_steps == 0 or last or preempted:
                    checkpoints.save(step, args=ocp.args.StandardSave(state))
                if preempted:
                    logging.warning("Preempted: stopped at step %d (saved).", step)
                    break
        checkpoints.wait_until_finished()
    finally:
        if train_batches is not None:
            train_batches.close()
        checkpoints.close()
        writer.flush()
        writer.close()
    return state, history
