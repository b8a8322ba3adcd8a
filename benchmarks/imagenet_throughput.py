"""Training throughput of the ImageNet example's step: tsx vs Optax, interleaved.

    python benchmarks/imagenet_throughput.py                   # ResNet-50, 224px
    python benchmarks/imagenet_throughput.py --batch_size 8 --steps 3   # on CPU
    python benchmarks/imagenet_throughput.py --model ResNet18 --image_size 64

Both variants are the example's own jitted train step
(``examples.imagenet.train.make_steps``) on the same ``tsx.training.TrainState``
(batch statistics, EMA, optional loss scale), the same model, mesh and
sharding, on one fixed random batch that stays on the devices (no input
pipeline). They differ only in the optimizer and its schedule: the example's
``create_optimizer`` / ``create_learning_rate_fn`` (tsx), or the same recipe
written here with Optax (:func:`optax_recipe`; by default SGD with Nesterov
momentum, warm-up + cosine schedule, L2 weight decay on kernels).

Protocol: both steps are compiled and run ``--warmup`` steps first; then
``--rounds`` rounds each time ``--steps`` steps of both variants, alternating
which goes first, and the summary gives the median images/s of each and the
ratio. On a shared machine the load average is printed at the start and the
end: compare the medians only when it is steady. The script also checks that
the two variants compute the same thing (largest parameter difference after
the same steps, expected at float32 rounding level).

Which variant is built first matters a little on a CPU: with identical
compiled programs, the one built second ran 4-10% faster in our ResNet-50
runs (memory placement, not the optimizer). ``--first optax`` builds Optax's
first; run both orders and compare the two ratios.

On CPU the script also reports images per CPU-second of its own process
(XLA's CPU threads are the process's), which other jobs on a shared machine
disturb less than wall-clock rates; on accelerators only the wall-clock figure
means anything.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import inspect  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import optax  # noqa: E402  (the peer being compared with)
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from benchmarks import machine  # noqa: E402
from examples.imagenet import train  # noqa: E402
from examples.imagenet.configs import fake_data_benchmark  # noqa: E402


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="ResNet50")
    p.add_argument("--num_filters", type=int, default=64)
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument(
        "--batch_size", type=int, default=None, help="global; default 64 per device"
    )
    p.add_argument(
        "--dtype",
        default="auto",
        help="float32, bfloat16, float16 or auto (bfloat16 on GPU/TPU, float32 on CPU)",
    )
    p.add_argument("--optimizer", default=None, help="default: the config's (sgd)")
    p.add_argument("--optimizer_kwargs", default=None, help="JSON object")
    p.add_argument("--state_sharding", default="replicated")
    p.add_argument(
        "--first",
        choices=("tsx", "optax"),
        default="tsx",
        help="the variant built (and placed in memory) first; see the docstring",
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--out",
        default=str(REPO_ROOT / "benchmarks" / "results" / "imagenet_throughput.json"),
        help="where to write the JSON results ('' to skip)",
    )
    return p.parse_args()


def _config(args: argparse.Namespace):
    config = fake_data_benchmark.get_config()
    platform_name = jax.devices()[0].platform
    dtype = args.dtype
    if dtype == "auto":
        dtype = "float32" if platform_name == "cpu" else "bfloat16"
    config.update(
        model=args.model,
        num_filters=args.num_filters,
        image_size=args.image_size,
        batch_size=args.batch_size or 64 * jax.device_count(),
        dtype=dtype,
        state_sharding=args.state_sharding,
    )
    if args.optimizer is not None:
        config.optimizer = args.optimizer
    if args.optimizer_kwargs is not None:
        config.optimizer_kwargs = {config.optimizer: json.loads(args.optimizer_kwargs)}
    return config


def _kernels(params):
    """True for kernels (the example's ``tsx.masks.decay_mask``), by hand."""
    return jax.tree_util.tree_map_with_path(lambda p, _: p[-1].key == "kernel", params)


def optax_recipe(config, steps_per_epoch: int, num_steps: int):
    """``(schedule, optimizer)``: the example's recipe built with Optax."""
    peak = config.learning_rate
    if config.base_batch_size:
        peak *= config.batch_size / config.base_batch_size
    schedule = {
        "constant": lambda: optax.constant_schedule(peak),
        "cosine": lambda: optax.cosine_decay_schedule(peak, num_steps),
        "warmup_cosine": lambda: optax.warmup_cosine_decay_schedule(
            0.0, peak, int(config.warmup_epochs * steps_per_epoch), num_steps
        ),
    }[config.schedule]()
    factory = optax
    for part in config.optimizer.split("."):
        factory = getattr(factory, part)
    kwargs = dict(config.optimizer_kwargs.get(config.optimizer, {}))
    own_decay = {"weight_decay", "mask"} <= set(inspect.signature(factory).parameters)
    if config.weight_decay and own_decay and config.weight_decay_mode != "l2":
        kwargs.update(weight_decay=config.weight_decay, mask=_kernels)
    tx = factory(learning_rate=schedule, **kwargs)
    if config.weight_decay and not (own_decay and config.weight_decay_mode != "l2"):
        tx = optax.chain(optax.add_decayed_weights(config.weight_decay, _kernels), tx)
    return schedule, tx


class Variant:
    """The example's train step with the optimizer of one library."""

    def __init__(self, name, config, mesh, batch):
        self.name, self.batch = name, batch
        steps_per_epoch, num_steps = 5000, 450_000  # an ImageNet-like schedule
        if name == "tsx":
            schedule = train.create_learning_rate_fn(config, steps_per_epoch, num_steps)
            tx = train.create_optimizer(config, schedule)
        else:
            schedule, tx = optax_recipe(config, steps_per_epoch, num_steps)
        model = train.create_model(config)
        init = lambda: train.create_train_state(config, model, tx)  # noqa: E731
        shardings = train.state_shardings(jax.eval_shape(init), mesh, config)
        self.state = jax.jit(init, out_shardings=shardings)()
        self.step, _ = train.make_steps(model, shardings, mesh, schedule)
        self.rates: list[float] = []  # images per second
        self.cpu_rates: list[float] = []  # images per CPU-second of this process

    def run(self, steps: int) -> tuple[float, float]:
        """Runs ``steps`` steps; returns their wall and process CPU seconds."""
        jax.block_until_ready(self.state)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.state, _ = self.step(self.state, self.batch)
        jax.block_until_ready(self.state)
        return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    args = _parse_args()
    config = _config(args)
    print(f"machine: {machine.describe()}")
    print(f"start: {machine.load()}")
    print(
        f"{config.model} (num_filters={config.num_filters}) at"
        f" {config.image_size}x{config.image_size}, global batch"
        f" {config.batch_size}, {config.dtype}, state {config.state_sharding};"
        f" optimizer {config.optimizer} {config.optimizer_kwargs.to_dict()},"
        f" weight decay {config.weight_decay}, EMA {config.ema_decay}"
    )

    mesh = train.create_mesh()
    rng = np.random.default_rng(0)
    size = config.image_size
    host_batch = {
        "image": rng.standard_normal(
            (config.batch_size, size, size, 3), np.float32
        ).astype(train.DTYPES[config.dtype]),
        "label": rng.integers(0, config.num_classes, config.batch_size, np.int32),
    }
    sharding = NamedSharding(mesh, P(train.DATA_AXIS))
    batch = {
        k: jax.make_array_from_process_local_data(sharding, v)
        for k, v in host_batch.items()
    }

    names = ("tsx", "optax") if args.first == "tsx" else ("optax", "tsx")
    variants = [Variant(name, config, mesh, batch) for name in names]
    for v in variants:
        t0 = time.perf_counter()
        v.run(1)  # compiles
        compile_s = time.perf_counter() - t0
        v.run(max(args.warmup - 1, 0))
        print(f"{v.name}: first step (compilation) {compile_s:.1f} s")

    print("\nround | " + " | ".join(f"{v.name} img/s (per CPU-s)" for v in variants))
    images = args.steps * config.batch_size
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            wall, cpu = v.run(args.steps)
            v.rates.append(images / wall)
            v.cpu_rates.append(images / cpu)
        print(
            f"{r + 1:5d} | "
            + " | ".join(
                f"{v.rates[-1]:9.2f} ({v.cpu_rates[-1]:8.2f})" for v in variants
            )
        )

    medians = {v.name: statistics.median(v.rates) for v in variants}
    cpu_medians = {v.name: statistics.median(v.cpu_rates) for v in variants}
    ratio = medians["tsx"] / medians["optax"]
    diff = max(
        float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        for a, b in zip(
            jax.tree.leaves(variants[0].state.params),
            jax.tree.leaves(variants[1].state.params),
            strict=True,
        )
    )
    print(f"\nend: {machine.load()}")
    print(
        f"median images/s: tsx {medians['tsx']:.2f}, optax {medians['optax']:.2f};"
        f" tsx/optax = {ratio:.3f}"
    )
    print(
        f"median images per CPU-second: tsx {cpu_medians['tsx']:.2f}, optax"
        f" {cpu_medians['optax']:.2f}; tsx/optax ="
        f" {cpu_medians['tsx'] / cpu_medians['optax']:.3f}"
    )
    print(
        f"same computation: max |param tsx - optax| = {diff:.3g} after"
        f" {args.warmup + args.rounds * args.steps} steps each"
    )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "machine": machine.describe(),
                    "args": vars(args),
                    "config": config.to_dict(),
                    "images_per_sec": {v.name: v.rates for v in variants},
                    "median_images_per_sec": medians,
                    "images_per_cpu_sec": {v.name: v.cpu_rates for v in variants},
                    "median_images_per_cpu_sec": cpu_medians,
                    "tsx_over_optax": ratio,
                    "max_param_diff": diff,
                },
                indent=1,
                default=str,
            )
        )
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
