"""Matrix optimizers (Shampoo, SOAP, PSGD-Kron, Muon) against a tuned AdamW on text.

A pre-LN character transformer (4 layers, width 128, 4 heads, context 128,
byte vocabulary: about 0.8M parameters) trained on the CPython standard
library text of ``../shared/data/pystdlib-chars`` for 600 steps of batch 32,
warm-up and cosine decay, gradient clipping at 1, decoupled weight decay 0.1
on kernels. Each optimizer is swept over three learning rates around its own
default; the best setting is rerun with three seeds. Reported: final
validation loss (8 fixed batches of the validation split), the curve
(every 50 steps), steps to reach AdamW's best final loss, median time per
step and optimizer-state bytes.

    python benchmarks/optimizer_quality.py charlm \\
        --data_dir ../shared/data/pystdlib-chars --out benchmarks/results/quality.json
    python benchmarks/optimizer_quality.py plot benchmarks/results/quality.json \\
        --png docs/_static/optimizer_quality.png
    python benchmarks/optimizer_quality.py mnist --data_dir ../shared/data/mnist-5k
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import tsx  # noqa: E402
from benchmarks import machine  # noqa: E402
from benchmarks.lowbit_quality import CharTransformer, _text  # noqa: E402

SWEEPS = {
    "adamw": (3e-3, 6e-3, 1.2e-2),
    "shampoo": (3e-3, 6e-3, 1.2e-2),
    "soap": (3e-3, 6e-3, 1.2e-2, 2.4e-2),
    "kron": (7.5e-4, 1.5e-3, 3e-3, 6e-3),
    "muon": (3e-3, 6e-3, 1.2e-2),
}
BATCH, CONTEXT, EVAL_EVERY = 32, 128, 25


def build(name: str, schedule) -> tsx.GradientTransformation:
    """The optimizer ``name`` with clipping and masked decoupled decay."""
    decay = dict(weight_decay=0.1)
    inner = {
        "adamw": lambda: tsx.adamw(schedule, mask=tsx.masks.decay_mask, **decay),
        "shampoo": lambda: tsx.contrib.shampoo(
            schedule, mask=tsx.masks.decay_mask, **decay
        ),
        "soap": lambda: tsx.contrib.soap(schedule, mask=tsx.masks.decay_mask, **decay),
        "kron": lambda: tsx.contrib.kron(schedule, mask=tsx.masks.decay_mask, **decay),
        # consistent_rms=0.2 scales the orthogonalized update to AdamW's RMS, so
        # one learning rate serves the matrices and the Adam-updated vectors.
        "muon": lambda: tsx.contrib.muon(
            schedule,
            weight_decay_mask=tsx.masks.decay_mask,
            consistent_rms=0.2,
            **decay,
        ),
    }[name]()
    return tsx.chain(tsx.clip_by_global_norm(1.0), inner)


def charlm_run(name, lr, seed, train_text, valid, steps=600) -> dict:
    model = CharTransformer(layers=4)
    params = model.init(jax.random.key(seed), jnp.zeros((1, CONTEXT), jnp.int32))
    params = params["params"]

    def loss_fn(params, windows):
        logits = model.apply({"params": params}, windows[:, :-1])
        labels = jax.nn.one_hot(windows[:, 1:], 128)
        return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(logits), -1))

    schedule = tsx.warmup_cosine_decay_schedule(0.0, lr, steps // 10, steps)
    tx = build(name, schedule)
    state = tx.init(params)

    @jax.jit
    def step(params, state, windows):
        loss, grads = jax.value_and_grad(loss_fn)(params, windows)
        updates, state = tx.update(grads, state, params)
        return tsx.apply_updates(params, updates), state, loss

    evaluate = jax.jit(loss_fn)
    rng = np.random.default_rng(seed)
    curve, times = [], []
    for i in range(steps):
        s = rng.integers(0, len(train_text) - CONTEXT - 1, size=BATCH)
        windows = np.stack([train_text[j : j + CONTEXT + 1] for j in s])
        start = time.perf_counter()
        params, state, loss = step(params, state, windows)
        jax.block_until_ready(loss)
        if i >= 5:
            times.append(time.perf_counter() - start)
        if (i + 1) % EVAL_EVERY == 0:
            v = float(np.mean([evaluate(params, w) for w in valid]))
            curve.append((i + 1, v))
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    return {
        "optimizer": name,
        "lr": lr,
        "seed": seed,
        "final": curve[-1][1],
        "curve": curve,
        "ms_per_step": 1e3 * statistics.median(times),
        "mean_ms_per_step": 1e3 * statistics.mean(times),
        "state_bytes": state_bytes,
        "params": sum(x.size for x in jax.tree.leaves(params)),
    }


def charlm(args: argparse.Namespace) -> None:
    data = Path(args.data_dir)
    train_text, valid_text = _text(data / "train.txt.gz"), _text(data / "valid.txt.gz")
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(valid_text) - CONTEXT - 1, size=(8, BATCH))
    valid = [np.stack([valid_text[s : s + CONTEXT + 1] for s in row]) for row in starts]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(out.read_text()) if out.exists() else []
    done = {(r["optimizer"], r["lr"], r["seed"]) for r in runs}
    print(f"{args.steps} steps, batch {BATCH}; {machine.load()}", flush=True)

    def run(name, lr, seed):
        if (name, lr, seed) in done:
            return
        r = charlm_run(name, lr, seed, train_text, valid, args.steps)
        runs.append(r)
        out.write_text(json.dumps(runs))
        print(
            f"{name:8s} lr {lr:g} seed {seed}: valid {r['final']:.4f},"
            f" {r['mean_ms_per_step']:.0f} ms/step (mean)",
            flush=True,
        )

    names = args.optimizers.split(",")
    lrs = [float(x) for x in args.lrs.split(",") if x]
    for name in names:
        for lr in lrs or SWEEPS[name]:
            run(name, lr, 0)
    if lrs:
        return
    for name in names:
        best = min(
            (r for r in runs if r["optimizer"] == name), key=lambda r: r["final"]
        )
        for seed in (1, 2):
            run(name, best["lr"], seed)
    report(runs)


def _best(runs, name):
    swept = [r for r in runs if r["optimizer"] == name and r["seed"] == 0]
    lr = min(swept, key=lambda r: r["final"])["lr"]
    return lr, [r for r in runs if r["optimizer"] == name and r["lr"] == lr]


def report(runs) -> None:
    """Prints the Markdown tables of ``runs``."""
    names = [n for n in SWEEPS if any(r["optimizer"] == n for r in runs)]
    print("\n| optimizer | lr | final valid loss, seed 0 |")
    print("|---|---:|---:|")
    for r in sorted(runs, key=lambda r: (names.index(r["optimizer"]), r["lr"])):
        if r["seed"] == 0:
            print(f"| {r['optimizer']} | {r['lr']:g} | {r['final']:.4f} |")
    _, base = _best(runs, "adamw")
    target = statistics.mean(r["final"] for r in base)
    print(f"\nAdamW's best final loss (mean of seeds): {target:.4f}\n")
    print(
        "| optimizer | best lr | final (mean of seeds) | seeds | steps to AdamW's"
        " final | of AdamW's steps | ms/step | state bytes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    adam_steps = None
    for name in names:
        lr, chosen = _best(runs, name)
        finals = [r["final"] for r in chosen]
        curve = np.mean([[v for _, v in r["curve"]] for r in chosen], axis=0)
        steps = [s for s, _ in chosen[0]["curve"]]
        reach = next(
            (s for s, v in zip(steps, curve, strict=True) if v <= target), None
        )
        if name == "adamw":
            adam_steps = reach
        share = f"{reach / adam_steps:.0%}" if reach and adam_steps else "not reached"
        print(
            f"| {name} | {lr:g} | {statistics.mean(finals):.4f} |"
            f" {len(finals)} | {reach or 'not reached'} | {share} |"
            f" {statistics.median(r['mean_ms_per_step'] for r in chosen):.0f} |"
            f" {chosen[0]['state_bytes']:,} |"
        )


def mnist(args: argparse.Namespace) -> None:
    """The MNIST example's CNN (its AdamW config) with each optimizer."""
    import tempfile

    from absl import logging

    from examples.mnist import train
    from examples.mnist.configs import adamw

    logging.set_verbosity(logging.WARNING)
    print("| optimizer | lr | test accuracy % | test loss |")
    print("|---|---:|---:|---:|")
    for name in args.optimizers.split(","):
        for lr in (float(x) for x in args.lrs.split(",")):
            config = adamw.get_config()
            config.data_dir, config.seed = args.data_dir, args.seed
            config.optimizer = name if name == "adamw" else f"contrib.{name}"
            config.learning_rate = lr
            if name != "adamw":
                config.optimizer_kwargs = {}
            with tempfile.TemporaryDirectory() as workdir:
                _, history = train.train_and_evaluate(config, workdir)
            last = history[-1]
            print(
                f"| {name} | {lr:g} | {100 * last['test_accuracy']:.2f} |"
                f" {last['test_loss']:.4f} |",
                flush=True,
            )


def plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads(Path(args.results).read_text())
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in SWEEPS:
        if not any(r["optimizer"] == name for r in runs):
            continue
        lr, chosen = _best(runs, name)
        steps = [s for s, _ in chosen[0]["curve"]]
        curve = np.mean([[v for _, v in r["curve"]] for r in chosen], axis=0)
        ax.plot(steps, curve, label=f"{name} (lr {lr:g}, {len(chosen)} seeds)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_ylim(top=2.6)
    ax.set_title("Character transformer on CPython stdlib text, batch 32")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    report(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("charlm")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out", default="benchmarks/results/quality.json")
    p.add_argument("--optimizers", default=",".join(SWEEPS))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lrs", default="", help="comma-separated; default: SWEEPS")
    p = sub.add_parser("mnist")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--optimizers", default=",".join(SWEEPS))
    p.add_argument("--lrs", default="1e-3,3e-3")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("plot")
    p.add_argument("results")
    p.add_argument("--png", default="docs/_static/optimizer_quality.png")
    args = parser.parse_args()
    {"charlm": charlm, "mnist": mnist, "plot": plot}[args.what](args)


if __name__ == "__main__":
    main()
