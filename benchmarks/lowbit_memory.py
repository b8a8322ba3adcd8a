"""Memory and step time of AdamW with its state in 32, 16, 8 and 4 bits.

For each workload and state width, and for bfloat16 params with compensated
master weights (``tsx.lowbit.master_weights``) over 8- and 4-bit state: the
state's bytes per parameter (codes, block scales and rounding errors
included), params + state per parameter, the compiled step's temporaries and peak from
``memory_analysis()`` (arguments + outputs not aliased + temporaries), and
the median time of a jitted, donated step (``update`` + ``apply_updates``)
in interleaved rounds, as a ratio to the float32 state.

    python benchmarks/lowbit_memory.py --workloads resnet50,gpt2_small --rounds 7

Results are also written to ``benchmarks/results/lowbit_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsx  # noqa: E402
from benchmarks import machine, workloads  # noqa: E402

# (state bits, master weights): float32 params, then bfloat16 params.
VARIANTS = ((32, None), (16, None), (8, None), (4, None), (8, "bf16"), (4, "bf16"))
RESULTS = Path(__file__).parent / "results" / "lowbit_memory.json"


def _optimizer(bits: int, master: str | None):
    tx = tsx.adamw(1e-3, weight_decay=1e-4)
    tx = tx if bits == 32 else tsx.quantized_state(tx, bits)
    return tx if master is None else tsx.lowbit.master_weights(tx)


def _label(variant) -> str:
    bits, master = variant
    return f"{bits} bits" + ("" if master is None else " + bf16 params")


def _tree_bytes(tree) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _step(tx):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return tsx.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def run(name: str, rounds: int, steps: int) -> list[dict]:
    shapes = workloads.WORKLOADS[name]()
    n = workloads.param_count(shapes)
    grads = workloads.materialize(shapes, seed=1)
    print(f"\n{name}: {n:,} params in {len(jax.tree.leaves(shapes))} leaves")
    runs = {}
    for variant in VARIANTS:
        bits, master = variant
        tx = _optimizer(bits, master)
        params = workloads.materialize(shapes, seed=0)
        g = grads
        if master is not None:
            params, g = jax.tree.map(lambda x: x.astype(jnp.bfloat16), (params, g))
        state = tx.init(params)
        step = _step(tx)
        memory = step.lower(params, state, g).compile().memory_analysis()
        for _ in range(2):
            params, state = step(params, state, g)
        jax.block_until_ready(state)
        runs[variant] = dict(
            step=step,
            carry=(params, state),
            grads=g,
            times=[],
            state_bytes=tsx.lowbit.state_bytes(state),
            params_bytes=_tree_bytes(params),
            temp=memory.temp_size_in_bytes,
            peak=memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            - memory.alias_size_in_bytes
            + memory.temp_size_in_bytes,
        )
    for r in range(rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            run_ = runs[variant]
            params, state = run_["carry"]
            start = time.perf_counter()
            for _ in range(steps):
                params, state = run_["step"](params, state, run_["grads"])
            jax.block_until_ready(state)
            run_["times"].append((time.perf_counter() - start) / steps)
            run_["carry"] = (params, state)
    base = statistics.median(runs[(32, None)]["times"])
    print(
        "| state | bytes/param | params + state bytes/param | temporaries MB |"
        " peak MB | step ms | vs float32 |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = []
    for variant, run_ in runs.items():
        median = statistics.median(run_["times"])
        row = dict(
            workload=name,
            state=_label(variant),
            state_bytes_per_param=run_["state_bytes"] / n,
            total_bytes_per_param=(run_["state_bytes"] + run_["params_bytes"]) / n,
            temp_mb=run_["temp"] / 2**20,
            peak_mb=run_["peak"] / 2**20,
            step_ms=1e3 * median,
            vs_float32=median / base,
        )
        rows.append(row)
        print(
            f"| {row['state']} | {row['state_bytes_per_param']:.3f} |"
            f" {row['total_bytes_per_param']:.3f} | {row['temp_mb']:.1f} |"
            f" {row['peak_mb']:.0f} | {row['step_ms']:.1f} | {row['vs_float32']:.2f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="resnet50,gpt2_small")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    args = parser.parse_args()
    setup = dict(machine=machine.describe(), load_before=machine.load())
    print(setup["machine"])
    print(setup["load_before"])
    rows = [
        row
        for name in args.workloads.split(",")
        for row in run(name, args.rounds, args.steps)
    ]
    setup["load_after"] = machine.load()
    print(setup["load_after"])
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(dict(argv=vars(args), setup=setup, rows=rows), indent=1)
    )


if __name__ == "__main__":
    main()
