"""Train the MNIST example with tsx and with Optax: same seeds, same data order.

    python benchmarks/mnist_vs_optax.py                    # 3 seeds x 10 epochs
    python benchmarks/mnist_vs_optax.py --seeds 0 --epochs 2      # quick look
    python benchmarks/mnist_vs_optax.py --data_dir ~/mnist-full   # full MNIST
    python benchmarks/mnist_vs_optax.py --optimizer adamw --learning_rate 1e-3 \\
        --weight_decay 1e-4 --optimizer_kwargs '{}'

Each run is the example's own loop (``examples.mnist.train.train_and_evaluate``
with ``configs/default.py``), in a fresh workdir; the Optax run differs only in
the optimizer, built by the example's ``create_optimizer`` from the ``optax``
module instead of ``tsx`` (same name, keyword arguments, schedule and weight
decay mask). Data order and initialisation depend only on the seed, so the two
runs see identical batches and start from identical parameters, and should
match step for step: the script prints the per-epoch test accuracy of both,
the largest difference of any training step's loss, and the largest
difference of the final parameters. Seconds per epoch exclude evaluation;
epoch 1 includes compilation, so the summary's s/epoch is the median of
epochs 2 and later, in wall-clock seconds and in CPU seconds (all threads of
the process; on a shared machine these move less with the load than the wall
time). The machine is named with its load average at start and end.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import optax  # noqa: E402  (the peer being compared with)
import tensorflow as tf  # noqa: E402
from absl import logging  # noqa: E402

import tsx  # noqa: E402
from benchmarks import machine  # noqa: E402
from examples.mnist import train  # noqa: E402
from examples.mnist.configs import default  # noqa: E402


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data_dir",
        default=str(REPO_ROOT / ".." / "shared" / "data" / "mnist-5k"),
        help="folder with the four MNIST IDX files (default: the repo's mnist-5k)",
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--epochs", type=int, default=None, help="default: the config's")
    p.add_argument("--optimizer", default=None)
    p.add_argument("--learning_rate", type=float, default=None)
    p.add_argument("--optimizer_kwargs", default=None, help="JSON object")
    p.add_argument("--weight_decay", type=float, default=None)
    p.add_argument("--schedule", default=None)
    p.add_argument(
        "--out",
        default=str(REPO_ROOT / "benchmarks" / "results" / "mnist_vs_optax.json"),
        help="where to write the JSON results ('' to skip)",
    )
    p.add_argument("--verbose", action="store_true", help="show the example's logs")
    return p.parse_args()


def _config(args: argparse.Namespace, seed: int):
    config = default.get_config()
    config.data_dir = args.data_dir
    config.seed = seed
    if args.epochs is not None:
        config.num_epochs = args.epochs
    if args.optimizer is not None:
        config.optimizer = args.optimizer
    if args.learning_rate is not None:
        config.learning_rate = args.learning_rate
    if args.optimizer_kwargs is not None:
        config.optimizer_kwargs = json.loads(args.optimizer_kwargs)
    if args.weight_decay is not None:
        config.weight_decay = args.weight_decay
    if args.schedule is not None:
        config.schedule = args.schedule
    return config


def _run(config, lib):
    """One training run of the example with the optimizer built from ``lib``."""
    from examples.mnist import input_pipeline

    steps = input_pipeline.get_datasets(config).steps_per_epoch
    tx = train.create_optimizer(config, steps, lib=lib)
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        state, history = train.train_and_evaluate(config, workdir, tx=tx)
        wall = time.perf_counter() - t0
    return state, history, wall


def main() -> None:
    args = _parse_args()
    if not args.verbose:
        logging.set_verbosity(logging.WARNING)
    tf.config.experimental.set_visible_devices([], "GPU")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {machine.describe()}")
    print(f"start: {machine.load()}")

    results = []
    for seed in seeds:
        config = _config(args, seed)
        runs = {}
        for name, lib in (("tsx", tsx), ("optax", optax)):
            state, history, wall = _run(config, lib)
            runs[name] = (state, history, wall)
        (t_state, th, tw), (o_state, oh, ow) = runs["tsx"], runs["optax"]
        step_diff = max(
            float(np.max(np.abs(a["step_losses"] - b["step_losses"])))
            for a, b in zip(th, oh, strict=True)
        )
        param_diff = max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(
                jax.tree.leaves(t_state.params),
                jax.tree.leaves(o_state.params),
                strict=True,
            )
        )
        print(
            f"\nseed {seed}: {config.optimizer} lr={config.learning_rate}"
            f" {dict(config.optimizer_kwargs)} wd={config.weight_decay}"
            f" schedule={config.schedule}, {th[0]['step']} steps/epoch"
        )
        print(
            "epoch | tsx test acc | optax test acc | tsx s/epoch | optax s/epoch"
            " | tsx train loss | optax train loss"
        )
        for a, b in zip(th, oh, strict=True):
            print(
                f"{a['epoch']:5d} | {100 * a['test_accuracy']:11.2f}% |"
                f" {100 * b['test_accuracy']:13.2f}% | {a['train_seconds']:11.2f} |"
                f" {b['train_seconds']:13.2f} | {a['train_loss']:14.4f} |"
                f" {b['train_loss']:16.4f}"
            )
        print(
            f"max |step loss tsx - optax| = {step_diff:.3g};"
            f" max |final param tsx - optax| = {param_diff:.3g};"
            f" wall {tw:.1f} s (tsx), {ow:.1f} s (optax)"
        )
        results.append(
            {
                "seed": seed,
                "max_step_loss_diff": step_diff,
                "max_param_diff": param_diff,
                **{
                    name: {
                        "wall_seconds": wall,
                        "epochs": [
                            {k: v for k, v in r.items() if k != "step_losses"}
                            for r in history
                        ],
                    }
                    for name, (_, history, wall) in runs.items()
                },
            }
        )

    print(f"\nend: {machine.load()}")
    print("\nsummary (final test accuracy; s/epoch = median of epochs >= 2)")
    print(
        "library | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean | wall s/epoch | CPU s/epoch"
    )
    for name in ("tsx", "optax"):
        finals = [r[name]["epochs"][-1]["test_accuracy"] for r in results]
        later = [e for r in results for e in r[name]["epochs"] if e["epoch"] > 1]
        # With one epoch there is no compilation-free epoch to report.
        wall, cpu = (
            (
                f"{statistics.median(e[key] for e in later):.2f}"
                for key in ("train_seconds", "train_cpu_seconds")
            )
            if later
            else ("-", "-")
        )
        print(
            f"{name:7s} | "
            + " | ".join(f"{100 * f:.2f}%" for f in finals)
            + f" | {100 * statistics.mean(finals):.2f}% | {wall} | {cpu}"
        )

    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"machine": machine.describe(), "args": vars(args), "results": results},
                indent=1,
            )
        )
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
