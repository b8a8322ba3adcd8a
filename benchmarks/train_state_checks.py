"""What TrainState's checks cost per step: the shape checks and the finite guard.

Four jitted, donated ``apply_gradients`` steps on the same params and gradient,
all with AdamW (lr 1e-3, weight decay 1e-4), timed in interleaved rounds:

* ``flax+optax``: ``flax.training.train_state.TrainState`` with ``optax.adamw``
  (no checks at all: the baseline);
* ``tsx``: ``tsx.training.TrainState`` with ``tsx.adamw`` (the shape and dtype
  checks, which run at trace time only);
* ``tsx+guard``: the same with ``skip_nonfinite=True`` (one fused finiteness
  reduction over the gradient, the new params and the new state, and a
  ``lax.cond`` that keeps the old state when it fails);
* ``tsx+loss_scale``: the guard with a dynamic loss scale.

Besides the median step time, the script prints the number of HLO instructions
of each compiled step: ``tsx`` having as many as ``flax+optax`` is the evidence
that the shape checks leave nothing in the program.

    python benchmarks/train_state_checks.py --workload resnet50 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state as flax_train_state

import tsx
from benchmarks import machine, workloads
from tsx import training


def _states(params):
    """The four states, each built on its own copy of ``params``."""
    copy = lambda: jax.tree.map(jnp.array, params)  # noqa: E731
    flax_tx = optax.adamw(1e-3, weight_decay=1e-4)
    tsx_tx = tsx.adamw(1e-3, weight_decay=1e-4)
    create = training.TrainState.create
    return {
        "flax+optax": flax_train_state.TrainState.create(
            apply_fn=None, params=copy(), tx=flax_tx
        ),
        "tsx": create(apply_fn=None, params=copy(), tx=tsx_tx),
        "tsx+guard": create(
            apply_fn=None, params=copy(), tx=tsx_tx, skip_nonfinite=True
        ),
        "tsx+loss_scale": create(
            apply_fn=None,
            params=copy(),
            tx=tsx_tx,
            loss_scale=training.DynamicLossScale(),
        ),
    }


def _step(state, grads):
    return state.apply_gradients(grads=grads)


def _hlo_instructions(compiled) -> int:
    """Instructions in the optimized HLO module (fusions count as one each)."""
    text = compiled.as_text()
    entry = text[text.index("ENTRY") :]
    return sum(1 for line in entry.splitlines() if " = " in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="resnet50", choices=workloads.WORKLOADS)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    args = parser.parse_args()

    shapes = workloads.WORKLOADS[args.workload]()
    params = workloads.materialize(shapes, seed=0)
    grads = workloads.materialize(shapes, seed=1)
    states = _states(params)
    step = jax.jit(_step, donate_argnums=0)

    print(machine.describe())
    print(
        f"{args.workload}: {workloads.param_count(shapes):,} params in"
        f" {len(jax.tree.leaves(shapes))} leaves; {machine.load()}"
    )
    instructions = {}
    for name, state in states.items():
        compiled = step.lower(state, grads).compile()
        instructions[name] = _hlo_instructions(compiled)
        for _ in range(2):  # warm-up
            state = step(state, grads)
        jax.block_until_ready(state)
        states[name] = state

    times = {name: [] for name in states}
    for r in range(args.rounds):
        order = list(states) if r % 2 == 0 else list(reversed(states))
        for name in order:
            state = states[name]
            start = time.perf_counter()
            for _ in range(args.steps):
                state = step(state, grads)
            jax.block_until_ready(state)
            times[name].append((time.perf_counter() - start) / args.steps)
            states[name] = state

    base = statistics.median(times["flax+optax"])
    print(f"{'variant':<16}{'median ms':>10}{'vs flax+optax':>15}{'HLO instr':>11}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(
            f"{name:<16}{1e3 * median:>10.2f}{median / base:>15.3f}"
            f"{instructions[name]:>11}"
        )
    print(machine.load())


if __name__ == "__main__":
    main()
