"""What ``tsx.nnx.Optimizer`` costs per step over Flax's ``nnx.Optimizer``.

An NNX MLP (784 -> 1024 -> 1024 -> 10, 1.9M params) trained with
``tsx.adamw(1e-3)`` on random batches of 128; each case is the whole
``nnx.jit`` train step (forward, backward, update), as a user writes it:

* ``nnx.Optimizer``: Flax's optimizer with the tsx transformation;
* ``tsx.nnx``: :class:`tsx.nnx.Optimizer` with no feature on;
* ``tsx.nnx+guard``: with ``skip_nonfinite=True``;
* ``tsx.nnx+guard+ema``: with the guard and ``ema_decay=0.999``.

Each case runs ``--steps`` steps per round, the cases in turn (rotated each
round), after a warm-up round; the figure is the median over rounds of the
time per step, and its ratio to ``nnx.Optimizer``'s. The time includes
``nnx.jit``'s own Python work per call (Flax's graph traversal), which is
what a user pays.

    python -m benchmarks.nnx_overhead --rounds 9 --steps 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
from flax import nnx

import tsx
import tsx.nnx
from benchmarks import machine


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(784, 1024, rngs=rngs)
        self.l2 = nnx.Linear(1024, 1024, rngs=rngs)
        self.l3 = nnx.Linear(1024, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.l3(nnx.relu(self.l2(nnx.relu(self.l1(x)))))


CASES = {
    "nnx.Optimizer": lambda m, tx: nnx.Optimizer(m, tx, wrt=nnx.Param),
    "tsx.nnx": lambda m, tx: tsx.nnx.Optimizer(m, tx, wrt=nnx.Param),
    "tsx.nnx+guard": lambda m, tx: tsx.nnx.Optimizer(
        m, tx, wrt=nnx.Param, skip_nonfinite=True
    ),
    "tsx.nnx+guard+ema": lambda m, tx: tsx.nnx.Optimizer(
        m, tx, wrt=nnx.Param, skip_nonfinite=True, ema_decay=0.999
    ),
}


@nnx.jit
def train_step(model, optimizer, x, y):
    def loss_fn(model):
        logits = model(x)
        return tsx.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20, help="steps per round")
    parser.add_argument("--out", default="benchmarks/results/nnx_overhead.json")
    args = parser.parse_args()

    x = jax.random.normal(jax.random.key(0), (128, 784))
    y = jax.random.randint(jax.random.key(1), (128,), 0, 10)
    runs = {}
    for name, make in CASES.items():
        model = MLP(nnx.Rngs(0))
        runs[name] = (model, make(model, tsx.adamw(1e-3)))

    def timed(name: str) -> float:
        model, optimizer = runs[name]
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = train_step(model, optimizer, x, y)
        jax.block_until_ready(loss)
        return (time.perf_counter() - start) / args.steps

    names = list(CASES)
    for name in names:  # compile and warm up
        timed(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(timed(name))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    base = statistics.median(times["nnx.Optimizer"])
    result = {
        "machine": machine.describe(),
        "load": machine.load(),
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "cases": {
            name: {
                "median_ms": 1e3 * statistics.median(t),
                "ratio": statistics.median(t) / base,
            }
            for name, t in times.items()
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{result['machine']}; {result['load']}")
    print("| optimizer | ms/step (median) | vs nnx.Optimizer |")
    print("| --- | --- | --- |")
    for name, case in result["cases"].items():
        print(f"| `{name}` | {case['median_ms']:.2f} | {case['ratio']:.3f}x |")


if __name__ == "__main__":
    main()
