"""Matrix optimizers on sharded weights: collectives, work per device, step time.

Part ``probe``: the 12 matrices of four GPT-2-small blocks (4 each of
(768, 3072), (3072, 768), (768, 768)) on a mesh of forced CPU devices, split
along axis 0 over ``data`` (FSDP; ``--split tp`` splits axis 1, ``rep``
replicates), gradients split the same way, one jitted ``update`` +
``apply_updates`` under ``jax.set_mesh`` (Auto axes; ``--kind Explicit`` for
JAX's default axes). Per optimizer and the Optax peer where Optax has it:

* collectives per device, counted in the optimized HLO with their output
  bytes (one SPMD program, so every shape is one device's);
* the step's GFLOP from ``cost_analysis()`` of the sharded program and of
  the same step on one device (the replicated work). XLA counts a loop body
  once and LAPACK calls (eigh, QR) not at all, so for Muon, whose
  Newton-Schulz work is all matrix products, the table also gives the work
  each device is assigned: ``tsx.sharding.matrix_owners`` places the
  matrices and each device's GFLOP is the sum over its matrices of one
  matrix's ``scale_by_muon`` step FLOPs (``cost_analysis``, one matrix alone);
* the maximum difference from the one-device run after two steps, relative
  to how far the params moved.

Part ``lm``: median step time of the language-model example with
``fsdp=True`` and ``zero_axis="data"`` on the forced devices, per optimizer,
after two warm-up steps.

    python benchmarks/matrix_sharding.py --devices 8 --part probe
    python benchmarks/matrix_sharding.py --devices 8 --part lm --rounds 5

Prints Markdown tables; ``--json`` writes the figures to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

SHAPES = [(768, 3072), (3072, 768), (768, 768)] * 4
OPTIMIZERS = ("muon", "soap", "shampoo", "kron")


def _tsx_optimizer(name: str) -> Any:
    import tsx

    # precondition_frequency=1: every step is a refresh step (eigh / roots).
    return {
        "muon": lambda: tsx.contrib.muon(0.02),
        "soap": lambda: tsx.contrib.soap(1e-3, precondition_frequency=1),
        "shampoo": lambda: tsx.contrib.shampoo(1e-3, precondition_frequency=1),
        "kron": lambda: tsx.contrib.kron(1e-3),
    }[name]()


def _optax_optimizer(name: str) -> Any:
    if name != "muon":
        return None
    import optax

    return optax.contrib.muon(0.02)


def _cost(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0)) / 1e9


def _newton_schulz_gflop(shapes: list[tuple[int, int]], devices: int) -> dict:
    """Muon's Newton-Schulz work: per device as placed, and replicated."""
    import jax
    import jax.numpy as jnp

    import tsx

    def one(shape: tuple[int, int]) -> float:
        # One matrix alone: no stack, so no loop for cost_analysis to undercount.
        tx = tsx.contrib.scale_by_muon()
        params = {"w": jnp.zeros(shape, jnp.float32)}
        fn = jax.jit(lambda g, s: tx.update(g, s, params))
        return _cost(fn.lower(params, tx.init(params)).compile())

    per_shape = {shape: one(shape) for shape in set(shapes)}
    owners = tsx.sharding.matrix_owners(shapes, devices)
    load = [0.0] * devices
    for shape, device in zip(shapes, owners, strict=True):
        load[device] += per_shape[shape]
    return {"per_device": max(load), "replicated": sum(per_shape[s] for s in shapes)}


def probe(name: str, peer: str, devices: int, split: str, kind: str) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import tsx
    from benchmarks.devices import collectives

    tx = _optax_optimizer(name) if peer == "optax" else _tsx_optimizer(name)
    if tx is None:
        return {}
    if peer == "optax":
        import optax

        apply = optax.apply_updates
    else:
        apply = tsx.apply_updates

    rng = np.random.default_rng(0)
    params = {
        f"w{i:02d}": jnp.asarray(rng.normal(size=s) * 0.02, jnp.float32)
        for i, s in enumerate(SHAPES)
    }
    grads = jax.tree.map(lambda p: jnp.cos(7.0 * p), params)

    def step(p: Any, s: Any, g: Any) -> Any:
        u, s = tx.update(g, s, p)
        return apply(p, u), s

    one = jax.jit(step)
    reference = one.lower(params, tx.init(params), grads).compile()
    end, state = one(params, tx.init(params), grads)
    end = one(end, state, grads)[0]

    mesh = jax.make_mesh(
        (devices,), ("data",), axis_types=(getattr(AxisType, kind),)
    )
    spec = {"fsdp": P("data", None), "tp": P(None, "data"), "rep": P()}[split]
    placed, placed_grads = jax.device_put((params, grads), NamedSharding(mesh, spec))
    with jax.set_mesh(mesh):
        state = jax.jit(tx.init)(placed)
        sharded = jax.jit(step)
        compiled = sharded.lower(placed, state, placed_grads).compile()
        got, state = sharded(placed, state, placed_grads)
        got = sharded(got, state, placed_grads)[0]
    moved = max(float(np.max(np.abs(end[k] - params[k]))) for k in params)
    differ = max(float(np.max(np.abs(got[k] - end[k]))) for k in params)
    found = collectives(compiled.as_text())
    row = {
        "optimizer": f"{peer}.{name}",
        "split": split,
        "kind": kind,
        "collectives": {k: v["count"] for k, v in found.items()},
        "MiB": sum(v["MiB"] for v in found.values()),
        "gflop_sharded": _cost(compiled),
        "gflop_one_device": _cost(reference),
        "relative_difference": differ / moved,
    }
    if name == "muon" and peer == "tsx":
        row["newton_schulz_gflop"] = _newton_schulz_gflop(SHAPES, devices)
    return row


def lm_step_times(names: list[str], rounds: int) -> list[dict]:
    import jax
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    from examples.lm import train
    from examples.lm.configs import default

    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    rows = []
    for name in names:
        config = default.get_config()
        config.update(optimizer=name, zero_axis="data", fsdp=True)
        rng = np.random.default_rng(0)
        with jax.set_mesh(mesh):
            state = train.create_train_state(config, mesh)
            batch = jax.device_put(
                rng.integers(0, 256, (config.batch_size, config.context + 1)),
                NamedSharding(mesh, P("data")),
            )
            for _ in range(2):
                state, _ = train.train_step(state, batch)
            jax.block_until_ready(state)
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                state, _ = train.train_step(state, batch)
                jax.block_until_ready(state)
                times.append(time.perf_counter() - start)
        rows.append({"optimizer": name, "step_ms": 1e3 * statistics.median(times)})
        print(f"  {name}: {rows[-1]['step_ms']:.0f} ms", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--part", choices=("probe", "lm"), default="probe")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument("--split", default="fsdp", help="fsdp, tp or rep")
    parser.add_argument("--kind", default="Auto", help="Auto or Explicit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.devices import force_cpu_devices

    force_cpu_devices(args.devices)
    import jax

    names = args.optimizers.split(",")
    print(f"{jax.device_count()} {jax.devices()[0].platform} devices\n")
    if args.part == "lm":
        rows = lm_step_times(names, args.rounds)
        print("| optimizer | step (ms), fsdp + zero_axis |")
        print("| --- | ---: |")
        for row in rows:
            print(f"| {row['optimizer']} | {row['step_ms']:.0f} |")
    else:
        rows = []
        for name in names:
            for peer in ("optax", "tsx"):
                row = probe(name, peer, args.devices, args.split, args.kind)
                if row:
                    rows.append(row)
                    print(f"  {row['optimizer']} done", file=sys.stderr, flush=True)
        print(
            "| optimizer | collectives per device | MiB per device "
            "| GFLOP (sharded / one device) | rel. difference |"
        )
        print("| --- | --- | ---: | ---: | ---: |")
        for row in rows:
            found = sorted(row["collectives"].items())
            counts = ", ".join(f"{n} {k}" for k, n in found)
            print(
                f"| {row['optimizer']} | {counts or 'none'} | {row['MiB']:.1f} "
                f"| {row['gflop_sharded']:.1f} / {row['gflop_one_device']:.1f} "
                f"| {row['relative_difference']:.1e} |"
            )
        for row in rows:
            ns = row.get("newton_schulz_gflop")
            if ns:
                print(
                    f"\n{row['optimizer']}: Newton-Schulz work per device as placed "
                    f"{ns['per_device']:.1f} GFLOP; replicated {ns['replicated']:.1f}"
                    f" ({ns['per_device'] / (ns['replicated'] / args.devices):.2f}x"
                    " the replicated work / devices)"
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"devices": args.devices, "part": args.part, "rows": rows}, f)


if __name__ == "__main__":
    main()
