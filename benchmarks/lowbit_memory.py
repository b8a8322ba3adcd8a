"""Memory and step time of AdamW with its state in 32, 16, 8 and 4 bits.

For each workload and state width: the state's bytes per parameter (codes
and block scales included), the compiled step's temporaries and peak from
``memory_analysis()`` (arguments + outputs not aliased + temporaries), and
the median time of a jitted, donated step (``update`` + ``apply_updates``)
in interleaved rounds, as a ratio to the float32 state.

    python benchmarks/lowbit_memory.py --workloads resnet50,gpt2_small --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsx  # noqa: E402
from benchmarks import machine, workloads  # noqa: E402

WIDTHS = (32, 16, 8, 4)


def _optimizer(bits: int):
    tx = tsx.adamw(1e-3, weight_decay=1e-4)
    return tx if bits == 32 else tsx.quantized_state(tx, bits)


def _step(tx):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return tsx.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def run(name: str, rounds: int, steps: int) -> None:
    shapes = workloads.WORKLOADS[name]()
    n = workloads.param_count(shapes)
    grads = workloads.materialize(shapes, seed=1)
    print(f"\n{name}: {n:,} params in {len(jax.tree.leaves(shapes))} leaves")
    runs = {}
    for bits in WIDTHS:
        tx = _optimizer(bits)
        params = workloads.materialize(shapes, seed=0)
        state = tx.init(params)
        step = _step(tx)
        memory = step.lower(params, state, grads).compile().memory_analysis()
        for _ in range(2):
            params, state = step(params, state, grads)
        jax.block_until_ready(state)
        runs[bits] = dict(
            step=step,
            carry=(params, state),
            times=[],
            state_bytes=tsx.lowbit.state_bytes(state),
            temp=memory.temp_size_in_bytes,
            peak=memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            - memory.alias_size_in_bytes
            + memory.temp_size_in_bytes,
        )
    for r in range(rounds):
        order = WIDTHS if r % 2 == 0 else WIDTHS[::-1]
        for bits in order:
            run_ = runs[bits]
            params, state = run_["carry"]
            start = time.perf_counter()
            for _ in range(steps):
                params, state = run_["step"](params, state, grads)
            jax.block_until_ready(state)
            run_["times"].append((time.perf_counter() - start) / steps)
            run_["carry"] = (params, state)
    base = statistics.median(runs[32]["times"])
    print(
        "| state | bytes/param | temporaries MB | peak MB | step ms | vs float32 |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for bits, run_ in runs.items():
        median = statistics.median(run_["times"])
        print(
            f"| {bits} bits | {run_['state_bytes'] / n:.3f} |"
            f" {run_['temp'] / 2**20:.1f} | {run_['peak'] / 2**20:.0f} |"
            f" {1e3 * median:.1f} | {median / base:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="resnet50,gpt2_small")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    args = parser.parse_args()
    print(machine.describe())
    print(machine.load())
    for name in args.workloads.split(","):
        run(name, args.rounds, args.steps)
    print(machine.load())


if __name__ == "__main__":
    main()
