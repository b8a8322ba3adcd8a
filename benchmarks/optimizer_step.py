"""Time one optimizer step of tsx against Optax (and PyTorch), in one process.

    python benchmarks/optimizer_step.py                # every workload and optimizer
    python benchmarks/optimizer_step.py --quick        # under 5 minutes
    python benchmarks/optimizer_step.py --workloads resnet50 --optimizers adam,adamw
    python benchmarks/optimizer_step.py --quick --markdown   # + a table for the README

A case is one library's step on one workload: ``update`` + ``apply_updates``
in one ``jax.jit`` with the parameters and the optimizer state donated (what a
real train step does; see benchmarks/README.md), compiled ahead of time. For
each (workload, optimizer) the cases -- tsx, Optax, PyTorch's foreach and fused
``torch.optim`` steps where torch is installed, and a memory-bandwidth triad --
run interleaved (A B C, B C A, ...) after a warm-up, so that drift in the load
of the machine hits them alike; each figure is a median.

Reported per case: step time and its ratio to Optax's, compile time (trace,
lower and compile; wall and CPU seconds), optimizer-state bytes, peak memory
and temporary bytes from ``compiled.memory_analysis()``, and the fraction of
the memory-bandwidth limit: the bytes the math must move over the step time,
over the bandwidth of the triad measured in the same rotation. The bytes the
math must move, with P the parameter bytes and S Optax's state bytes, are
``3 P + 2 S`` (read params, grads and state; write params and state) plus
``P`` when a global-norm clip must read the gradients once more first. It is
a lower bound that counts no re-reads; for Muon and Adafactor the step also
computes (matrix products, factored statistics), so their fraction is only
indicative. The triad ``b <- b + s c`` on donated float32 arrays of 128 MiB
moves 3 x 128 MiB in place, as the optimizer steps update their donated
buffers in place, so both pay the same (no fresh pages, no write-allocate
of untouched memory).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optax  # noqa: E402  (the peer being compared with)

import tsx  # noqa: E402
from benchmarks.workloads import WORKLOADS, materialize, param_count  # noqa: E402


def _hidden_matrices(lib):
    """Muon's usual split: 2-D weights but the embeddings; the rest on Adam."""

    def dims(params):
        def one(path, p):
            embedding = "embedding" in jax.tree_util.keystr(path)
            if p.ndim == 2 and not embedding:
                return lib.contrib.MuonDimensionNumbers(0, 1)
            return None

        return jax.tree_util.tree_map_with_path(one, params)

    return dims


OPTIMIZERS = {
    "sgd": lambda lib: lib.sgd(1e-2),
    "sgd_momentum": lambda lib: lib.sgd(1e-2, momentum=0.9),
    "sgd_nesterov": lambda lib: lib.sgd(1e-2, momentum=0.9, nesterov=True),
    "adam": lambda lib: lib.adam(1e-3),
    "adamw": lambda lib: lib.adamw(1e-3, weight_decay=1e-2),
    "lion": lambda lib: lib.lion(1e-4),
    "rmsprop": lambda lib: lib.rmsprop(1e-3),
    "adafactor": lambda lib: lib.adafactor(1e-3),
    "clip_adamw": lambda lib: lib.chain(
        lib.clip_by_global_norm(1.0), lib.adamw(1e-3, weight_decay=1e-2)
    ),
    "muon": lambda lib: lib.contrib.muon(1e-3),
    # Embeddings on Adam: the 48 hidden matrices of GPT-2 fall in 4 shapes.
    "muon_hidden": lambda lib: lib.contrib.muon(
        1e-3, muon_weight_dimension_numbers=_hidden_matrices(lib)
    ),
    # Opt-in for trees of many small leaves: the state is one flat vector per
    # moment (``flatten``'s layout, in both libraries), not Optax's adam layout.
    "flatten_adam": lambda lib: lib.flatten(lib.adam(1e-3)),
}
# Run by default only where they are meant to be used.
OPTIMIZER_WORKLOADS = {
    "flatten_adam": ("small_leaves_2000",),
    "muon_hidden": ("gpt2_small",),
}
CLIPPED = {"clip_adamw"}
# PyTorch's counterparts: (constructor name, kwargs); each runs foreach and fused.
TORCH_OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=1e-2)),
    "sgd_momentum": ("SGD", dict(lr=1e-2, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(lr=1e-2, momentum=0.9, nesterov=True)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw": ("AdamW", dict(lr=1e-3, weight_decay=1e-2)),
}
QUICK_PLAN = {
    "resnet50": ["sgd_momentum", "adam", "adamw", "lion", "clip_adamw"],
    "small_leaves_2000": ["adam"],
}
# Steps that take seconds (Muon's Newton-Schulz products on GPT-2's matrices,
# about 2 TFLOP a step): fewer (reps, warm-up) rounds.
SLOW_CASES = {("gpt2_small", "muon"): (3, 1), ("gpt2_small", "muon_hidden"): (3, 1)}
# Workloads with this many leaves also time the dispatch floor (FloorCase).
FLOOR_MIN_LEAVES = 1000
TRIAD_N = 1 << 25  # float32 elements per triad array: 128 MiB, 4x the L3 here


def tree_bytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def min_bytes(params_bytes: int, state_bytes: int, clip: bool) -> int:
    """Bytes one step must move at least: see the module docstring."""
    return 3 * params_bytes + 2 * state_bytes + (params_bytes if clip else 0)


class Timed:
    """A case of the rotation: ``run()`` one step, appending its wall time."""

    impl = ""

    def __init__(self) -> None:
        self.times: list[float] = []

    def step(self) -> None:
        raise NotImplementedError

    def run(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        self.step()
        if record:
            self.times.append(time.perf_counter() - t0)

    def median(self) -> float:
        return statistics.median(self.times)


class TriadCase(Timed):
    """``b <- b + 3 c`` on donated float32 arrays; ``bandwidth()`` in bytes/s."""

    impl = "triad"

    def __init__(self, n: int | None = None) -> None:
        super().__init__()
        self.n = n = n or TRIAD_N
        self.b = jnp.ones(n, jnp.float32)
        self.c = jnp.full(n, 2.0, jnp.float32)
        self.fn = jax.jit(lambda b, c: b + 3.0 * c, donate_argnums=0)
        self.b = self.fn(self.b, self.c).block_until_ready()

    def step(self) -> None:
        self.b = self.fn(self.b, self.c).block_until_ready()

    def bandwidth(self) -> float:
        return 3 * self.n * 4 / self.median()


class JaxCase(Timed):
    """One library's jitted step on one workload.

    ``donate=False`` keeps the inputs alive (every output is a fresh buffer);
    ``split=True`` jits ``update`` and ``apply_updates`` separately, so the
    updates are written out and read back: the two ways of writing a train
    step that benchmarks/README.md advises against, timed for the record.
    """

    def __init__(self, lib, make, shapes, impl, *, donate=True, split=False):
        super().__init__()
        self.impl = impl
        tx = make(lib)
        self.params = materialize(shapes, seed=0)
        self.grads = materialize(shapes, seed=1)
        self.state = jax.jit(tx.init)(self.params)
        self.state_bytes = tree_bytes(self.state)
        donated = (0, 1) if donate else ()

        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return lib.apply_updates(params, updates), state

        c0, t0 = time.process_time(), time.perf_counter()
        if split:
            update = jax.jit(lambda p, s, g: tx.update(g, s, p), donate_argnums=(1,))
            update = update.lower(self.params, self.state, self.grads).compile()
            upd_shape = jax.eval_shape(
                lambda p, s, g: tx.update(g, s, p)[0],
                self.params,
                self.state,
                self.grads,
            )
            apply = jax.jit(lib.apply_updates, donate_argnums=0)
            apply = apply.lower(self.params, upd_shape).compile()

            def compiled(params, state, grads):
                updates, state = update(params, state, grads)
                return apply(params, updates), state

            self.compiled = compiled
            self.mem = update.memory_analysis()
        else:
            lowered = jax.jit(step, donate_argnums=donated).lower(
                self.params, self.state, self.grads
            )
            exe = lowered.compile()
            self.compiled = exe
            self.mem = exe.memory_analysis()
            self.hlo_fusions = exe.as_text().count(" fusion(")
        self.compile_s = time.perf_counter() - t0
        self.compile_cpu_s = time.process_time() - c0
        self.temp_bytes = int(self.mem.temp_size_in_bytes)
        peak = int(getattr(self.mem, "peak_memory_in_bytes", 0) or 0)
        self.peak_bytes = peak or int(
            self.mem.argument_size_in_bytes
            + self.mem.output_size_in_bytes
            - self.mem.alias_size_in_bytes
            + self.temp_bytes
        )

    def step(self) -> None:
        self.params, self.state = self.compiled(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))


class FloorCase(Timed):
    """The same call with nothing to compute: ``(params, state)`` returned as
    they came, donated. Its time is what passing the trees in and out costs
    (per-array dispatch), a floor under any step on this workload."""

    impl = "dispatch_floor"

    def __init__(self, like: JaxCase):
        super().__init__()
        self.params, self.state, self.grads = like.params, like.state, like.grads
        self.params = jax.tree.map(jnp.copy, self.params)
        self.state = jax.tree.map(jnp.copy, self.state)
        fn = jax.jit(lambda p, s, g: (p, s), donate_argnums=(0, 1))
        self.compiled = fn.lower(self.params, self.state, self.grads).compile()
        self.state_bytes = like.state_bytes
        self.compile_s = self.compile_cpu_s = None
        self.peak_bytes = self.temp_bytes = None

    def step(self) -> None:
        self.params, self.state = self.compiled(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))


class TorchCase(Timed):
    """``torch.optim`` on the same shapes, gradients already in ``.grad``."""

    def __init__(self, torch, ctor, kwargs, impl, shapes):
        super().__init__()
        self.impl = f"torch_{impl}"
        self.torch = torch
        gen = torch.Generator().manual_seed(0)
        self.params = [
            torch.nn.Parameter(0.02 * torch.randn(*x.shape, generator=gen))
            for x in jax.tree.leaves(shapes)
        ]
        for p in self.params:
            p.grad = 0.02 * torch.randn(*p.shape, generator=gen)
        flag = {"foreach": dict(foreach=True), "fused": dict(fused=True)}[impl]
        self.opt = getattr(torch.optim, ctor)(self.params, **kwargs, **flag)
        self.run(record=False)  # creates the state
        self.state_bytes = sum(
            v.numel() * v.element_size()
            for s in self.opt.state.values()
            for v in s.values()
            if torch.is_tensor(v) and v.dim() > 0
        )
        self.compile_s = self.compile_cpu_s = None
        self.peak_bytes = self.temp_bytes = None

    def step(self) -> None:
        with self.torch.no_grad():
            self.opt.step()


def make_cases(workload, shapes, opt_name, torch, variants):
    make = OPTIMIZERS[opt_name]
    cases = [
        JaxCase(tsx, make, shapes, "tsx"),
        JaxCase(optax, make, shapes, "optax"),
    ]
    if len(jax.tree.leaves(shapes)) >= FLOOR_MIN_LEAVES:
        cases.append(FloorCase(cases[1]))
    if variants:
        cases += [
            JaxCase(tsx, make, shapes, "tsx_not_donated", donate=False),
            JaxCase(tsx, make, shapes, "tsx_split_jits", split=True),
        ]
    if torch is not None and opt_name in TORCH_OPTIMIZERS:
        ctor, kwargs = TORCH_OPTIMIZERS[opt_name]
        for impl in ("foreach", "fused"):
            try:
                cases.append(TorchCase(torch, ctor, kwargs, impl, shapes))
            except (RuntimeError, TypeError) as err:
                print(f"  torch {impl} {ctor}: unavailable ({err})", flush=True)
    return cases


def bench(workload, shapes, opt_name, reps, warmup, torch, variants=False):
    cases = make_cases(workload, shapes, opt_name, torch, variants)
    triad = TriadCase()
    rotation = [*cases, triad]
    for case in rotation:
        for _ in range(warmup):
            case.run(record=False)
    for r in range(reps):
        # Interleaved (A B C, B C A, C A B, ...): each case follows each other
        # case equally often, so no case always runs on the caches (or after
        # the OpenMP threads) that one particular predecessor left behind.
        k = r % len(rotation)
        for case in rotation[k:] + rotation[:k]:
            case.run()
    by_impl = {c.impl: c for c in cases}
    optax_case = by_impl["optax"]
    p_bytes = tree_bytes(shapes)
    need = min_bytes(p_bytes, optax_case.state_bytes, opt_name in CLIPPED)
    bandwidth = triad.bandwidth()
    rows = []
    for case in cases:
        med = case.median()
        rows.append(
            dict(
                workload=workload,
                params=param_count(shapes),
                leaves=len(jax.tree.leaves(shapes)),
                optimizer=opt_name,
                impl=case.impl,
                step_ms=med * 1e3,
                step_ms_min=min(case.times) * 1e3,
                ratio_vs_optax=med / optax_case.median(),
                compile_s=case.compile_s,
                compile_cpu_s=case.compile_cpu_s,
                state_bytes=case.state_bytes,
                peak_bytes=case.peak_bytes,
                temp_bytes=case.temp_bytes,
                min_bytes=need,
                triad_gb_s=bandwidth / 1e9,
                bandwidth_fraction=need / med / bandwidth,
                reps=len(case.times),
            )
        )
    return rows


def fmt_bytes(n) -> str:
    return "-" if n is None else f"{n / 2**20:,.1f}M"


def fmt_s(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_rows(rows) -> None:
    for r in rows:
        print(
            f"{r['workload']:<18} {r['optimizer']:<13} {r['impl']:<16} "
            f"{r['step_ms']:>9.2f} ms  x{r['ratio_vs_optax']:<5.2f} "
            f"compile {fmt_s(r['compile_s']):>6} s  "
            f"state {fmt_bytes(r['state_bytes']):>9}  "
            f"peak {fmt_bytes(r['peak_bytes']):>9}  "
            f"temp {fmt_bytes(r['temp_bytes']):>8}  "
            f"BW {r['bandwidth_fraction']:.2f} (triad {r['triad_gb_s']:.1f} GB/s)",
            flush=True,
        )


def markdown(rows) -> str:
    head = (
        "| workload | optimizer | impl | step ms (median) | / Optax | "
        "compile s (CPU s) | state MiB | peak MiB | temp MiB | BW fraction |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        comp = (
            "-"
            if r["compile_s"] is None
            else f"{r['compile_s']:.2f} ({r['compile_cpu_s']:.2f})"
        )
        mib = lambda n: "-" if n is None else f"{n / 2**20:,.1f}"  # noqa: E731
        lines.append(
            f"| {r['workload']} | {r['optimizer']} | {r['impl']} | "
            f"{r['step_ms']:.1f} | {r['ratio_vs_optax']:.2f} | {comp} | "
            f"{mib(r['state_bytes'])} | {mib(r['peak_bytes'])} | "
            f"{mib(r['temp_bytes'])} | {r['bandwidth_fraction']:.2f} |"
        )
    return "\n".join(lines)


def plan(args) -> list[tuple[str, str]]:
    """The (workload, optimizer) pairs to run, in order."""
    default = (
        [(w, o) for w, opts in QUICK_PLAN.items() for o in opts]
        if args.quick
        else [
            (w, o)
            for w in WORKLOADS
            for o in OPTIMIZERS
            if w in OPTIMIZER_WORKLOADS.get(o, (w,))
        ]
    )
    workloads = args.workloads.split(",") if args.workloads else None
    optimizers = args.optimizers.split(",") if args.optimizers else None
    for names, known, what in (
        (workloads, WORKLOADS, "workloads"),
        (optimizers, OPTIMIZERS, "optimizers"),
    ):
        unknown = sorted(set(names or ()) - set(known))
        if unknown:
            raise SystemExit(f"unknown {what} {unknown}; known: {list(known)}")
    if optimizers:
        return [
            (w, o)
            for w in workloads or dict.fromkeys(w for w, _ in default)
            for o in optimizers
        ]
    return [(w, o) for w, o in default if not workloads or w in workloads]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few cases, < 5 min")
    parser.add_argument("--workloads", default=None, help="comma-separated names")
    parser.add_argument("--optimizers", default=None, help="comma-separated names")
    parser.add_argument("--reps", type=int, default=None, help="timed rounds")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch rows")
    parser.add_argument(
        "--step-variants",
        action="store_true",
        help="also time tsx's adam not donated and with update/apply in two jits",
    )
    parser.add_argument("--markdown", action="store_true", help="print a table")
    parser.add_argument("--out", default=None, help="JSON output path")
    args = parser.parse_args(argv)
    reps, warmup = (args.reps or 7, 2) if args.quick else (args.reps or 15, 3)
    pairs = plan(args)

    torch = None
    if not args.no_torch:
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            print("torch not installed: no PyTorch rows", flush=True)

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    print(
        f"{datetime.datetime.now():%Y-%m-%d %H:%M} {platform.machine()} "
        f"{os.cpu_count()} CPUs, load average {load_start[0]:.1f}; "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"optax {optax.__version__}, torch {getattr(torch, '__version__', '-')}",
        flush=True,
    )
    rows = []
    shapes_cache: dict = {}
    for workload, opt_name in pairs:
        if workload not in shapes_cache:
            shapes_cache.clear()  # one workload's arrays alive at a time
            shapes_cache[workload] = WORKLOADS[workload]()
        shapes = shapes_cache[workload]
        variants = args.step_variants and opt_name == "adam"
        r, w = SLOW_CASES.get((workload, opt_name), (reps, warmup))
        new = bench(
            workload, shapes, opt_name, min(r, reps), min(w, warmup), torch, variants
        )
        print_rows(new)
        rows += new
    load_end = os.getloadavg()
    elapsed = time.perf_counter() - t_start
    print(f"{elapsed:.0f} s; load average at the end {load_end[0]:.1f}")
    if args.markdown:
        print(markdown(rows))

    suffix = "-quick" if args.quick else ""
    default_out = (
        Path(__file__).parent
        / "results"
        / f"optimizer_step-{datetime.date.today()}{suffix}.json"
    )
    out = Path(args.out) if args.out else default_out
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(
        date=datetime.datetime.now().isoformat(timespec="minutes"),
        machine=platform.machine(),
        processor=platform.processor(),
        cpus=os.cpu_count(),
        device=str(jax.devices()[0]),
        jax=jax.__version__,
        optax=optax.__version__,
        torch=getattr(torch, "__version__", None),
        load_average_start=load_start,
        load_average_end=load_end,
        reps=reps,
        warmup=warmup,
        seconds=elapsed,
        argv=sys.argv[1:] if argv is None else list(argv),
    )
    out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
