"""Training quality with the optimizer state in 32, 16, 8 and 4 bits.

Two real-data tasks, each trained once per state width at the same seed and
hyperparameters (the float32 state is the reference):

* ``mnist``: the MNIST example (``examples/mnist``) with its AdamW config
  (lr 1e-3, weight decay 1e-4, 10 epochs), ``config.state_bits`` set, three
  seeds; final test accuracy.
* ``charlm``: a small pre-LN decoder-only transformer over characters (2
  layers, width 128, 4 heads, context 128, batch 32) trained with AdamW
  (lr 3e-3 with warm-up and cosine decay, clipping at 1) on
  ``pystdlib-chars`` (CPython standard-library source); validation loss in
  nats per character on a fixed set of windows.
* ``lstsq``: least squares from zero, 30 steps of AdamW, Lion, SGD with
  momentum, Adafactor, Muon, Shampoo, SOAP and PSGD-Kron at each width;
  the final loss against the same optimizer's with float32 state.

    python benchmarks/lowbit_quality.py mnist --data_dir ../shared/data/mnist-5k
    python benchmarks/lowbit_quality.py charlm --data_dir ../shared/data/pystdlib-chars
    python benchmarks/lowbit_quality.py lstsq   # every optimizer x width
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsx  # noqa: E402
from benchmarks import machine  # noqa: E402

WIDTHS = (32, 16, 8, 4)


def mnist(args: argparse.Namespace) -> None:
    from absl import logging

    from examples.mnist import train
    from examples.mnist.configs import adamw

    logging.set_verbosity(logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'bits':>4} " + " ".join(f"seed {s:>2}" for s in seeds) + "    mean")
    for bits in WIDTHS:
        accuracies = []
        for seed in seeds:
            config = adamw.get_config()
            config.data_dir = args.data_dir
            config.seed = seed
            config.state_bits = bits
            if args.epochs:
                config.num_epochs = args.epochs
            with tempfile.TemporaryDirectory() as workdir:
                _, history = train.train_and_evaluate(config, workdir)
            accuracies.append(100 * history[-1]["test_accuracy"])
        row = " ".join(f"{a:7.2f}" for a in accuracies)
        print(f"{bits:>4} {row} {np.mean(accuracies):7.2f}", flush=True)


class Block(nn.Module):
    width: int
    heads: int

    @nn.compact
    def __call__(self, x):
        mask = nn.make_causal_mask(jnp.ones(x.shape[:2]))
        y = nn.SelfAttention(num_heads=self.heads, use_bias=False)(
            nn.LayerNorm()(x), mask=mask
        )
        x = x + y
        y = nn.Dense(4 * self.width)(nn.LayerNorm()(x))
        return x + nn.Dense(self.width)(nn.gelu(y))


class CharTransformer(nn.Module):
    vocab: int = 128
    width: int = 128
    heads: int = 4
    layers: int = 2
    context: int = 128

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab, self.width)(tokens)
        x = x + self.param(
            "position", nn.initializers.normal(0.02), (self.context, self.width)
        )
        for _ in range(self.layers):
            x = Block(self.width, self.heads)(x)
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))


def _text(path: Path) -> np.ndarray:
    with gzip.open(path, "rt") as f:
        return np.frombuffer(f.read().encode("ascii"), np.uint8)


def charlm(args: argparse.Namespace) -> None:
    data = Path(args.data_dir)
    train_text, valid_text = _text(data / "train.txt.gz"), _text(data / "valid.txt.gz")
    model, context, batch = CharTransformer(), 128, 32
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(valid_text) - context - 1, size=(16, batch))
    valid = [np.stack([valid_text[s : s + context + 1] for s in row]) for row in starts]

    def loss_fn(params, windows):
        logits = model.apply({"params": params}, windows[:, :-1])
        labels = jax.nn.one_hot(windows[:, 1:], 128)
        return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(logits), -1))

    warmup = min(100, args.steps // 10)
    schedule = tsx.warmup_cosine_decay_schedule(0.0, 3e-3, warmup, args.steps)
    print(f"{args.steps} steps; {machine.load()}")
    results = {}
    for bits in WIDTHS:
        params = model.init(jax.random.key(0), jnp.zeros((1, context), jnp.int32))
        params = params["params"]
        tx = tsx.chain(
            tsx.clip_by_global_norm(1.0),
            tsx.optimizers.build(
                "adamw",
                learning_rate=schedule,
                weight_decay=0.1,
                weight_decay_mask=tsx.masks.decay_mask,
                state_bits=bits,
            ),
        )
        state = tx.init(params)

        @jax.jit
        def step(params, state, windows):
            loss, grads = jax.value_and_grad(loss_fn)(params, windows)
            updates, state = tx.update(grads, state, params)
            return tsx.apply_updates(params, updates), state, loss

        evaluate = jax.jit(loss_fn)
        data_rng = np.random.default_rng(args.seed)
        start = time.perf_counter()
        for i in range(args.steps):
            s = data_rng.integers(0, len(train_text) - context - 1, size=batch)
            windows = np.stack([train_text[j : j + context + 1] for j in s])
            params, state, loss = step(params, state, windows)
            if (i + 1) % args.log_every == 0:
                print(f"  bits {bits} step {i + 1}: train loss {float(loss):.4f}")
        valid_loss = float(np.mean([evaluate(params, w) for w in valid]))
        results[bits] = valid_loss
        print(
            f"bits {bits:>2}: valid loss {valid_loss:.4f} nats/char"
            f" ({valid_loss / results[32]:.4f} of float32's),"
            f" state {tsx.lowbit.state_bytes(state) / 1e6:.2f} MB,"
            f" {time.perf_counter() - start:.0f} s",
            flush=True,
        )


LSTSQ_OPTIMIZERS = {
    "adamw": lambda: tsx.adamw(1e-2),
    "lion": lambda: tsx.lion(1e-3),
    "sgd_momentum": lambda: tsx.sgd(3e-2, momentum=0.9),
    "adafactor": lambda: tsx.adafactor(1e-2, momentum=0.9),
    "muon": lambda: tsx.contrib.muon(1e-2),
    "shampoo": lambda: tsx.contrib.shampoo(1e-2, start_preconditioning_step=5),
    "soap": lambda: tsx.contrib.soap(1e-2),
    "kron": lambda: tsx.contrib.kron(1e-3),
}


def lstsq(args: argparse.Namespace) -> None:
    """Least squares ``|A w - b|^2`` (A 256 x 512, b 256 x 64, w from zero):
    the loss after 30 jitted steps of each optimizer at each state width,
    against the same optimizer with float32 state."""
    import json

    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (256, 512))
    b = jax.random.normal(k2, (256, 64))

    def loss(w):
        return jnp.mean((a @ w - b) ** 2)

    def final_loss(tx):
        w = jnp.zeros((512, 64))

        def body(carry, _):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w), state, w)
            return (tsx.apply_updates(w, updates), state), None

        (w, _), _ = jax.jit(
            lambda w: jax.lax.scan(body, (w, tx.init(w)), length=args.steps)
        )(w)
        return float(loss(w))

    rows = []
    print("| optimizer | " + " | ".join(f"{b} bits" for b in WIDTHS) + " |")
    print("|---|" + "---:|" * len(WIDTHS))
    for name, build in LSTSQ_OPTIMIZERS.items():
        losses = {}
        for bits in WIDTHS:
            tx = build() if bits == 32 else tsx.quantized_state(build(), bits=bits)
            losses[bits] = final_loss(tx)
        rows.append({"optimizer": name, "loss": losses})
        cells = [f"{losses[32]:.5f}"] + [
            f"{losses[b]:.5f} ({losses[b] / losses[32] - 1:+.1%})" for b in WIDTHS[1:]
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"steps": args.steps, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    p = sub.add_parser("mnist")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=0, help="0: the config's 10")
    p = sub.add_parser("charlm")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log_every", type=int, default=500)
    p = sub.add_parser("lstsq")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", default="benchmarks/results/lowbit_lstsq.json")
    args = parser.parse_args()
    print(machine.describe())
    {"mnist": mnist, "charlm": charlm, "lstsq": lstsq}[args.task](args)


if __name__ == "__main__":
    main()
