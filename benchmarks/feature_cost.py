"""What each TrainState feature costs: compile time by leaf count, and step time.

Two parts, each in one process with the variants interleaved round by round
(medians; the ratios are the result, since the machine's load moves the
absolute figures):

* ``compile``: seconds to lower and compile one jitted, donated
  ``TrainState.apply_gradients`` on a tree of ``N`` leaves alternating
  ``(64, 64)`` and ``(64,)`` (two distinct shapes), AdamW 1e-3, for Flax's
  ``TrainState`` with ``optax.adamw`` (and ``optax.apply_if_finite``), the
  plain tsx state, each feature alone (``skip_nonfinite``, 8-bit
  ``quantized_state`` with ``min_size=1``, ``accumulate_steps=4``,
  ``ema_decay``, ``telemetry``) and all together; and Muon, SOAP, Shampoo and
  Kron against AdamW. Tracing is timed apart from XLA's compile.
* ``step``: the median time of the same donated step on ResNet-50 and
  GPT-2-small shapes (``benchmarks/workloads.py``): the guard against the
  unguarded step, and ``quantized_state`` at 16, 8 and 4 bits against the
  float32 state, with the temporary bytes from ``memory_analysis()``.

    python -m benchmarks.feature_cost --part compile --leaves 100,400,1600
    python -m benchmarks.feature_cost --part step --workloads resnet50,gpt2_small

Results are appended to ``benchmarks/results/feature_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state as flax_train_state

import tsx
from benchmarks import machine, workloads
from tsx import training

RESULTS = Path(__file__).parent / "results" / "feature_cost.json"


def layout(n: int) -> dict:
    """``n`` leaves alternating (64, 64) and (64,) float32."""
    return {
        f"leaf_{i:05d}": jax.ShapeDtypeStruct((64, 64) if i % 2 == 0 else (64,), "f4")
        for i in range(n)
    }


def _tsx(tx=None, **features):
    tx = tsx.adamw(1e-3) if tx is None else tx
    return lambda p: training.TrainState.create(
        apply_fn=None, params=p, tx=tx, **features
    )


def _flax(tx):
    return lambda p: flax_train_state.TrainState.create(apply_fn=None, params=p, tx=tx)


def _hidden(tx_fn):
    """A matrix optimizer on the 2-D leaves, AdamW on the rest."""

    def make(p):
        labels = jax.tree.map(lambda x: "m" if x.ndim == 2 else "a", p)
        tx = tsx.multi_transform({"m": tx_fn(), "a": tsx.adamw(1e-3)}, labels)
        return training.TrainState.create(apply_fn=None, params=p, tx=tx)

    return make


ALL = dict(
    skip_nonfinite=True,
    accumulate_steps=4,
    ema_decay=0.999,
    telemetry=True,
)
COMPILE_VARIANTS = {
    "flax+optax": _flax(optax.adamw(1e-3)),
    "flax+optax apply_if_finite": _flax(
        optax.apply_if_finite(optax.adamw(1e-3), max_consecutive_errors=5)
    ),
    "tsx": _tsx(),
    "guard": _tsx(skip_nonfinite=True),
    "8-bit state": _tsx(tsx.quantized_state(tsx.adamw(1e-3), bits=8, min_size=1)),
    "accumulation": _tsx(accumulate_steps=4),
    "ema": _tsx(ema_decay=0.999),
    "telemetry": _tsx(telemetry=True),
    "all": _tsx(tsx.quantized_state(tsx.adamw(1e-3), bits=8, min_size=1), **ALL),
}
MATRIX_VARIANTS = {
    "adamw": _tsx(),
    "muon": _hidden(lambda: tsx.contrib.muon(0.02)),
    "soap": _hidden(lambda: tsx.contrib.soap(3e-3)),
    "shampoo": _hidden(lambda: tsx.contrib.shampoo(1e-3)),
    "kron": _hidden(lambda: tsx.contrib.kron(1e-3)),
}


def _step(state, grads):
    return state.apply_gradients(grads=grads)


def compile_seconds(make, shapes) -> tuple[float, float]:
    """(trace + lower seconds, XLA compile seconds) of one donated step."""
    state = jax.eval_shape(make, shapes)
    t0 = time.perf_counter()
    lowered = jax.jit(_step, donate_argnums=0).lower(state, shapes)
    t1 = time.perf_counter()
    lowered.compile()
    return t1 - t0, time.perf_counter() - t1


def compile_part(leaf_counts, rounds, variants, baseline):
    rows = []
    for n in leaf_counts:
        shapes = layout(n)
        times = {name: [] for name in variants}
        for r in range(rounds):
            for name, make in variants.items():
                jax.clear_caches()
                times[name].append(compile_seconds(make, shapes))
                print(
                    f"  n={n} round {r + 1}/{rounds} {name}: "
                    f"{sum(times[name][-1]):.1f} s",
                    flush=True,
                )
        base = statistics.median(sum(t) for t in times[baseline])
        for name, ts in times.items():
            total = statistics.median(sum(t) for t in ts)
            rows.append(
                dict(
                    leaves=n,
                    variant=name,
                    seconds=total,
                    trace_seconds=statistics.median(t[0] for t in ts),
                    ratio=total / base,
                    baseline=baseline,
                )
            )
    return rows


STEP_VARIANTS = {
    "tsx": _tsx(),
    "guard": _tsx(skip_nonfinite=True),
    "32-bit state": _tsx(),
    "16-bit state": _tsx(tsx.quantized_state(tsx.adamw(1e-3), bits=16)),
    "8-bit state": _tsx(tsx.quantized_state(tsx.adamw(1e-3), bits=8)),
    "4-bit state": _tsx(tsx.quantized_state(tsx.adamw(1e-3), bits=4)),
}
STEP_BASELINE = {"guard": "tsx", "16-bit state": "32-bit state"}
STEP_BASELINE |= {"8-bit state": "32-bit state", "4-bit state": "32-bit state"}


def step_part(names, rounds, steps):
    rows = []
    for wl in names:
        shapes = workloads.WORKLOADS[wl]()
        params = workloads.materialize(shapes)
        grads = workloads.materialize(shapes, seed=1)
        grads = jax.tree.map(lambda g: 1e-2 * g, grads)
        compiled, states, temp = {}, {}, {}
        for name, make in STEP_VARIANTS.items():
            state = make(jax.tree.map(jnp.array, params))
            c = jax.jit(_step, donate_argnums=0).lower(state, grads).compile()
            compiled[name], states[name] = c, state
            temp[name] = c.memory_analysis().temp_size_in_bytes
        times = {name: [] for name in STEP_VARIANTS}
        for r in range(rounds + 1):  # round 0 warms up
            for name, c in compiled.items():
                state = states[name]
                t = time.perf_counter()
                for _ in range(steps):
                    state = c(state, grads)
                jax.block_until_ready(state)
                states[name] = state
                if r:
                    times[name].append((time.perf_counter() - t) / steps)
            print(f"  {wl} round {r}/{rounds}", flush=True)
        for name, ts in times.items():
            base = STEP_BASELINE.get(name, name)
            ms = statistics.median(ts) * 1e3
            rows.append(
                dict(
                    workload=wl,
                    variant=name,
                    ms=ms,
                    baseline=base,
                    ratio=ms / (statistics.median(times[base]) * 1e3),
                    temp_mib=temp[name] / 2**20,
                    baseline_temp_mib=temp[base] / 2**20,
                )
            )
    return rows


def table(rows, keys, columns) -> str:
    head = "| " + " | ".join(keys + columns) + " |"
    lines = [head, "|" + "---|" * (len(keys) + len(columns))]
    for row in rows:
        cells = [str(row[k]) for k in keys]
        cells += [f"{row[c]:.2f}" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["compile", "matrix", "step"], required=True)
    parser.add_argument("--leaves", default="100,400,1600")
    parser.add_argument("--workloads", default="resnet50,gpt2_small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    args = parser.parse_args()
    setup = dict(machine=machine.describe(), load_before=machine.load())
    print(setup["machine"], "|", setup["load_before"], flush=True)
    start = time.perf_counter()
    leaves = [int(n) for n in args.leaves.split(",")]
    if args.part == "compile":
        rows = compile_part(leaves, args.rounds, COMPILE_VARIANTS, "tsx")
        shown = table(
            rows, ["leaves", "variant"], ["seconds", "trace_seconds", "ratio"]
        )
    elif args.part == "matrix":
        rows = compile_part(leaves, args.rounds, MATRIX_VARIANTS, "adamw")
        shown = table(
            rows, ["leaves", "variant"], ["seconds", "trace_seconds", "ratio"]
        )
    else:
        rows = step_part(args.workloads.split(","), args.rounds, args.steps)
        shown = table(
            rows, ["workload", "variant", "baseline"], ["ms", "ratio", "temp_mib"]
        )
    print(shown)
    setup |= dict(load_after=machine.load(), seconds=time.perf_counter() - start)
    record = dict(part=args.part, argv=vars(args), setup=setup, rows=rows)
    RESULTS.parent.mkdir(exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(old + [record], indent=1))
    print(f"{setup['seconds']:.0f} s; {setup['load_after']}; appended to {RESULTS}")


if __name__ == "__main__":
    main()
