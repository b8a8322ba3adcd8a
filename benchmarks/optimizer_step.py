"""Time one optimizer step of tsx against Optax (and PyTorch), in one process.

    python benchmarks/optimizer_step.py            # full run
    python benchmarks/optimizer_step.py --quick    # a few minutes
    python benchmarks/optimizer_step.py --workloads resnet50 --optimizers adam,adamw

Each case jits ``update`` + ``apply_updates`` with the parameters and state
donated (what a real train step does), compiles it, then times tsx and Optax
interleaved (A B A B ...) after a warm-up, so drift of the machine cancels;
the figure is the median. For each case it reports the step time and the
tsx/Optax ratio, compile time, optimizer-state bytes, peak memory from
``compiled.memory_analysis()``, and the fraction of the memory-bandwidth limit:
the bytes the math must move (read params, grads and state, write params and
state; one extra read of the grads for a global-norm clip) over the step time,
over the bandwidth of a STREAM-like triad measured in the same run.
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
}
# PyTorch's counterparts: (constructor name, kwargs); each runs foreach and fused.
TORCH_OPTIMIZERS = {
    "sgd_momentum": ("SGD", dict(lr=1e-2, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(lr=1e-2, momentum=0.9, nesterov=True)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw": ("AdamW", dict(lr=1e-3, weight_decay=1e-2)),
}


def tree_bytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def triad_bandwidth(n: int = 1 << 25, reps: int = 15) -> float:
    """Bytes/s of ``b = b + s * c`` on float32 arrays (2 reads, 1 write per element).

    ``b`` is donated so the result reuses its buffer, as the optimizer steps
    reuse their donated params and state (no fresh pages to fault in).
    """
    b = jnp.ones(n, jnp.float32)
    c = jnp.full(n, 2.0, jnp.float32)
    triad = jax.jit(lambda b, c: b + 3.0 * c, donate_argnums=0)
    b = triad(b, c).block_until_ready()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        b = triad(b, c).block_until_ready()
        times.append(time.perf_counter() - t0)
    return 3 * n * 4 / statistics.median(times)


def min_bytes(params_bytes: int, state_bytes: int, clip: bool) -> int:
    # read params + grads + state, write params + state (+ grads again for the norm).
    return 3 * params_bytes + 2 * state_bytes + (params_bytes if clip else 0)


class JaxCase:
    """One library's jitted, donated step on one workload."""

    def __init__(self, lib, make, shapes):
        self.tx = make(lib)
        self.lib = lib
        tx = self.tx

        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return lib.apply_updates(params, updates), state

        self.params = materialize(shapes, seed=0)
        self.grads = materialize(shapes, seed=1)
        self.state = jax.jit(tx.init)(self.params)
        self.state_bytes = tree_bytes(self.state)
        t0 = time.perf_counter()
        lowered = jax.jit(step, donate_argnums=(0, 1)).lower(
            self.params, self.state, self.grads
        )
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - t0
        mem = self.compiled.memory_analysis()
        self.temp_bytes = int(getattr(mem, "temp_size_in_bytes", 0) or 0)
        self.peak_bytes = int(
            (getattr(mem, "argument_size_in_bytes", 0) or 0)
            + (getattr(mem, "output_size_in_bytes", 0) or 0)
            - (getattr(mem, "alias_size_in_bytes", 0) or 0)
            + self.temp_bytes
        )
        self.times: list[float] = []

    def run(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        self.params, self.state = self.compiled(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))
        if record:
            self.times.append(time.perf_counter() - t0)


class TorchCase:
    def __init__(self, torch, ctor, kwargs, impl, shapes):
        self.torch = torch
        leaves = jax.tree.leaves(shapes)
        gen = torch.Generator().manual_seed(0)
        self.params = [
            torch.nn.Parameter(0.02 * torch.randn(*x.shape, generator=gen))
            for x in leaves
        ]
        for p in self.params:
            p.grad = 0.02 * torch.randn(*p.shape, generator=gen)
        flag = {"foreach": dict(foreach=True), "fused": dict(fused=True)}[impl]
        self.opt = getattr(torch.optim, ctor)(self.params, **kwargs, **flag)
        self.run(record=False)
        self.state_bytes = sum(
            v.numel() * v.element_size()
            for s in self.opt.state.values()
            for v in s.values()
            if torch.is_tensor(v) and v.dim() > 0
        )
        self.times: list[float] = []

    def run(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        with self.torch.no_grad():
            self.opt.step()
        if record:
            self.times.append(time.perf_counter() - t0)


def bench_workload(name, shapes, optimizers, reps, warmup, bandwidth, torch):
    rows = []
    n_params = param_count(shapes)
    p_bytes = tree_bytes(shapes)
    for opt_name in optimizers:
        make = OPTIMIZERS[opt_name]
        cases = {
            "tsx": JaxCase(tsx, make, shapes),
            "optax": JaxCase(optax, make, shapes),
        }
        if torch is not None and opt_name in TORCH_OPTIMIZERS:
            ctor, kwargs = TORCH_OPTIMIZERS[opt_name]
            for impl in ("foreach", "fused"):
                try:
                    cases[f"torch_{impl}"] = TorchCase(
                        torch, ctor, kwargs, impl, shapes
                    )
                except (RuntimeError, TypeError) as err:
                    print(f"  torch {impl} {ctor}: unavailable ({err})", flush=True)
        for case in cases.values():
            for _ in range(warmup):
                case.run(record=False)
        for _ in range(reps):
            for case in cases.values():  # interleaved: A B A B ...
                case.run()
        need = min_bytes(p_bytes, cases["tsx"].state_bytes, opt_name == "clip_adamw")
        for impl, case in cases.items():
            med = statistics.median(case.times)
            rows.append(
                dict(
                    workload=name,
                    params=n_params,
                    optimizer=opt_name,
                    impl=impl,
                    step_ms=med * 1e3,
                    ratio_vs_optax=med / statistics.median(cases["optax"].times),
                    compile_s=getattr(case, "compile_s", None),
                    state_bytes=case.state_bytes,
                    peak_bytes=getattr(case, "peak_bytes", None),
                    temp_bytes=getattr(case, "temp_bytes", None),
                    bandwidth_fraction=need / med / bandwidth,
                )
            )
        print_rows(rows[-len(cases) :])
    return rows


def fmt_bytes(n) -> str:
    return "-" if n is None else f"{n / 2**20:,.1f}M"


def print_rows(rows) -> None:
    for r in rows:
        compile_s = "-" if r["compile_s"] is None else f"{r['compile_s']:.2f}"
        print(
            f"{r['workload']:<18} {r['optimizer']:<13} {r['impl']:<14} "
            f"{r['step_ms']:>9.2f} ms  x{r['ratio_vs_optax']:<5.2f} "
            f"compile {compile_s:>6} s  state {fmt_bytes(r['state_bytes']):>9}  "
            f"peak {fmt_bytes(r['peak_bytes']):>9}  BW {r['bandwidth_fraction']:.2f}",
            flush=True,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and repeats")
    parser.add_argument("--workloads", default=None, help="comma-separated names")
    parser.add_argument("--optimizers", default=None, help="comma-separated names")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out", default=None, help="JSON output path")
    args = parser.parse_args(argv)

    if args.quick:
        workloads = ["resnet50", "small_leaves_2000"]
        optimizers = ["sgd_momentum", "adam", "adamw", "clip_adamw", "lion"]
        reps, warmup = args.reps or 7, 2
    else:
        workloads = list(WORKLOADS)
        optimizers = list(OPTIMIZERS)
        reps, warmup = args.reps or 21, 3
    if args.workloads:
        workloads = args.workloads.split(",")
    if args.optimizers:
        optimizers = args.optimizers.split(",")

    torch = None
    if not args.no_torch:
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            print("torch not installed: skipping PyTorch rows", flush=True)

    bandwidth = triad_bandwidth()
    print(
        f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"optax {optax.__version__}, "
        f"torch {getattr(torch, '__version__', '-')}; triad bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s",
        flush=True,
    )
    rows = []
    for w in workloads:
        shapes = WORKLOADS[w]()
        # The 2,000-leaf tree only runs what its compile time allows in quick mode.
        opts = optimizers
        if args.quick and w == "small_leaves_2000":
            opts = [o for o in optimizers if o in ("adam", "sgd_momentum")]
        rows += bench_workload(w, shapes, opts, reps, warmup, bandwidth, torch)
    out = (
        Path(args.out)
        if args.out
        else (
            Path(__file__).parent
            / "results"
            / f"optimizer_step-{datetime.date.today()}.json"
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(
        date=str(datetime.date.today()),
        machine=platform.machine(),
        cpus=os.cpu_count(),
        device=str(jax.devices()[0]),
        jax=jax.__version__,
        optax=optax.__version__,
        torch=getattr(torch, "__version__", None),
        triad_bytes_per_s=bandwidth,
        reps=reps,
    )
    out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
