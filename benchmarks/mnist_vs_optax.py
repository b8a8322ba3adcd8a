"""Train the MNIST example's CNN with tsx and with Optax: same seeds, same batches.

    python benchmarks/mnist_vs_optax.py --data_dir DIR           # 3 seeds x 10 epochs
    python benchmarks/mnist_vs_optax.py --data_dir DIR --seeds 0 --epochs 2
    python benchmarks/mnist_vs_optax.py --data_dir DIR --optimizer adamw \\
        --learning_rate 1e-3 --weight_decay 1e-4

``DIR`` is any folder holding the four MNIST IDX files. The example's model,
data, config and jitted train and eval steps are used as they are; this script
runs its own epoch loop twice per seed: once on a ``tsx.training.TrainState``
with the optimizer ``examples.mnist.train.create_optimizer`` builds, once on
Flax's ``TrainState`` with the same recipe written with Optax. Initialisation
and data order depend only on the seed, so the two should match step for step:
the script prints per-epoch test accuracy of both, the largest difference of
any step's loss and of the final parameters, and seconds per epoch (training
only; the median of epochs 2 and later, so compilation is excluded), in wall
time and CPU time of the process.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402  (the peer being compared with)
from flax.training import train_state as flax_train_state  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import machine  # noqa: E402
from examples.mnist import input_pipeline, train  # noqa: E402
from examples.mnist.configs import default  # noqa: E402


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", required=True, help="folder with the four IDX files")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--epochs", type=int, default=None, help="default: the config's")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--learning_rate", type=float, default=None)
    p.add_argument("--weight_decay", type=float, default=0.0)
    p.add_argument(
        "--out",
        default=str(REPO_ROOT / "benchmarks" / "results" / "mnist_vs_optax.json"),
        help="where to write the JSON results ('' to skip)",
    )
    return p.parse_args()


def _config(args: argparse.Namespace, seed: int):
    config = default.get_config()
    config.update(data_dir=args.data_dir, seed=seed, optimizer=args.optimizer)
    if args.epochs is not None:
        config.num_epochs = args.epochs
    if args.optimizer == "adamw":
        config.learning_rate = 1e-3
    if args.learning_rate is not None:
        config.learning_rate = args.learning_rate
    config.weight_decay = args.weight_decay
    return config


def _optax_recipe(config):
    """The same recipe written with Optax (what ``create_optimizer`` builds)."""

    def kernels(params):
        return jax.tree.map(lambda p: p.ndim > 1, params)

    if config.optimizer == "adamw":
        return optax.adamw(
            config.learning_rate, weight_decay=config.weight_decay, mask=kernels
        )
    return optax.sgd(config.learning_rate, momentum=0.9)


def _run(config, data, tsx_state: bool):
    steps_per_epoch = len(data["train"][1]) // config.batch_size
    tx = train.create_optimizer(config, steps_per_epoch)
    state = train.create_train_state(config, tx)
    if not tsx_state:
        state = flax_train_state.TrainState.create(
            apply_fn=state.apply_fn, params=state.params, tx=_optax_recipe(config)
        )
    epochs, losses = [], []
    for epoch in range(1, config.num_epochs + 1):
        t0, cpu0 = time.perf_counter(), time.process_time()
        batches = input_pipeline.train_batches(
            data["train"], config.batch_size, config.seed, epoch
        )
        step_losses = []
        for batch in batches:
            state, step_metrics = train.train_step(state, batch)
            step_losses.append(step_metrics.loss.total / step_metrics.loss.count)
        losses.append(np.asarray(jax.device_get(step_losses)))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        scores = train.evaluate(
            state, state.params, data["test"], config.eval_batch_size
        )
        epochs.append(
            {"epoch": epoch, "seconds": seconds, "cpu_seconds": cpu, **scores}
        )
    return state, epochs, np.concatenate(losses)


def main() -> None:
    args = _parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {machine.describe()}\nstart: {machine.load()}")
    results = []
    for seed in seeds:
        config = _config(args, seed)
        data, _ = input_pipeline.load(config)
        ours, our_epochs, our_losses = _run(config, data, tsx_state=True)
        theirs, their_epochs, their_losses = _run(config, data, tsx_state=False)
        loss_diff = float(np.max(np.abs(our_losses - their_losses)))
        param_diff = max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(
                jax.tree.leaves(ours.params),
                jax.tree.leaves(theirs.params),
                strict=True,
            )
        )
        print(f"\nseed {seed}: {config.optimizer}, lr {config.learning_rate}")
        print("epoch | tsx test acc | optax test acc | tsx s | optax s")
        for a, b in zip(our_epochs, their_epochs, strict=True):
            print(
                f"{a['epoch']:5d} | {100 * a['accuracy']:11.2f}% |"
                f" {100 * b['accuracy']:13.2f}% | {a['seconds']:5.2f} |"
                f" {b['seconds']:7.2f}"
            )
        print(
            f"max |step loss diff| {loss_diff:.3g}, max |param diff| {param_diff:.3g}"
        )
        results.append(
            {
                "seed": seed,
                "max_step_loss_diff": loss_diff,
                "max_param_diff": param_diff,
                "tsx": our_epochs,
                "optax": their_epochs,
            }
        )
    print(f"\nend: {machine.load()}")
    print("\nlibrary | final test accuracy per seed | mean | s/epoch | CPU s/epoch")
    for name in ("tsx", "optax"):
        finals = [r[name][-1]["accuracy"] for r in results]
        later = [e for r in results for e in r[name] if e["epoch"] > 1] or [
            e for r in results for e in r[name]
        ]
        wall = statistics.median(e["seconds"] for e in later)
        cpu = statistics.median(e["cpu_seconds"] for e in later)
        print(
            f"{name:7s} | {', '.join(f'{100 * f:.2f}%' for f in finals)} |"
            f" {100 * statistics.mean(finals):.2f}% | {wall:.2f} | {cpu:.2f}"
        )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": machine.describe(), "args": vars(args), "results": results}
        out.write_text(json.dumps(record, indent=1))
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
