"""The optimizer-step benchmark runs end to end and reports what it claims.

No timing is asserted (the machine is shared); the checks are on the
accounting: byte counts, state sizes, ratios and the JSON record.
"""

import json

import jax
import jax.numpy as jnp
import pytest

from benchmarks import optimizer_step as bench
from benchmarks import workloads


def tiny_tree() -> dict:
    f32 = jnp.float32
    return {
        "dense": {
            "kernel": jax.ShapeDtypeStruct((64, 32), f32),
            "bias": jax.ShapeDtypeStruct((32,), f32),
        },
        "out": jax.ShapeDtypeStruct((32, 8), f32),
    }


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(bench, "WORKLOADS", {"tiny": tiny_tree})
    monkeypatch.setattr(bench, "TRIAD_N", 1 << 12)
    monkeypatch.setattr(bench, "FLOOR_MIN_LEAVES", 3)


def test_min_bytes_counts_one_read_and_write_of_params_and_state():
    # read params, grads, state; write params, state; a clip reads grads again.
    assert bench.min_bytes(100, 200, clip=False) == 3 * 100 + 2 * 200
    assert bench.min_bytes(100, 200, clip=True) == 4 * 100 + 2 * 200


def test_benchmark_writes_rows_for_every_case(tiny, tmp_path):
    out = tmp_path / "r.json"
    argv = [
        "--workloads=tiny",
        "--optimizers=adam,clip_adamw,sgd",
        "--reps=2",
        "--no-torch",
        "--step-variants",
        f"--out={out}",
    ]
    assert bench.main(argv) == 0
    record = json.loads(out.read_text())
    rows = {(r["optimizer"], r["impl"]): r for r in record["rows"]}
    assert set(rows) == {
        (o, i)
        for o in ("adam", "clip_adamw", "sgd")
        for i in ("tsx", "optax", "dispatch_floor")
    } | {("adam", "tsx_not_donated"), ("adam", "tsx_split_jits")}
    p_bytes = 4 * (64 * 32 + 32 + 32 * 8)
    adam = rows["adam", "tsx"]
    assert adam["params"] == p_bytes // 4 and adam["leaves"] == 3
    # mu and nu like the params, plus the int32 step count.
    assert (
        adam["state_bytes"] == rows["adam", "optax"]["state_bytes"] == 2 * p_bytes + 4
    )
    assert adam["min_bytes"] == 3 * p_bytes + 2 * (2 * p_bytes + 4)
    assert rows["clip_adamw", "tsx"]["min_bytes"] == adam["min_bytes"] + p_bytes
    assert rows["sgd", "tsx"]["state_bytes"] == 0
    assert rows["adam", "optax"]["ratio_vs_optax"] == 1.0
    for r in record["rows"]:
        assert r["step_ms"] > 0 and r["bandwidth_fraction"] > 0 and r["reps"] == 2
        assert r["triad_gb_s"] > 0
    # Donation: the step's outputs reuse the inputs' buffers; without it the
    # peak holds both.
    assert rows["adam", "tsx_not_donated"]["peak_bytes"] > adam["peak_bytes"]
    assert record["meta"]["reps"] == 2 and len(record["meta"]["load_average_end"]) == 3


def test_quick_plan_and_unknown_names():
    args = bench.argparse.Namespace(quick=True, workloads=None, optimizers=None)
    pairs = bench.plan(args)
    assert ("resnet50", "adam") in pairs and ("small_leaves_2000", "adam") in pairs
    full = bench.plan(
        bench.argparse.Namespace(quick=False, workloads=None, optimizers=None)
    )
    assert {o for _, o in full} == set(bench.OPTIMIZERS)
    assert {w for w, _ in full} == set(bench.WORKLOADS)
    assert ("resnet50", "flatten_adam") not in full
    with pytest.raises(SystemExit, match="adamm"):
        bench.plan(
            bench.argparse.Namespace(quick=False, workloads=None, optimizers="adamm")
        )


def test_workload_shapes():
    gpt2 = workloads.gpt2_small_shapes()
    assert workloads.param_count(gpt2) == 124_439_808  # GPT-2 small, tied head
    small = workloads.many_small_leaves()
    assert len(jax.tree.leaves(small)) == 2000
    assert workloads.param_count(small) == 2_000_000
    arrays = workloads.materialize(tiny_tree(), seed=0)
    assert jax.tree.map(jnp.shape, arrays) == jax.tree.map(
        lambda s: s.shape, tiny_tree()
    )
