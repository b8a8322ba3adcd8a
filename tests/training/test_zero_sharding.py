"""``TrainState.create(..., zero_axis="data")``: ZeRO-1 on 8 CPU devices.

Against the replicated run of the same program: equal params (float32
rounding), 1/8 of the optimizer state per device, the Newton-Schulz work of
Muon split over the devices (the loop over its matrices runs 1/8 of them on
each device, with or without ZeRO), and a state born sharded.
"""

import pytest

from tests.devices import run_with_cpu_devices

COMMON = """
import json, re
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import tsx
from tsx.training import TrainState

rng = np.random.default_rng(0)

def mlp(shapes):
    return {k: jnp.asarray(rng.normal(size=s) * 0.1, jnp.float32)
            for k, s in shapes.items()}

def apply_fn(variables, x):
    p = variables["params"]
    h = jnp.tanh(x @ p["w1"])
    h = jnp.tanh(h @ p["w2"] + p["b"])
    return h @ p["w3"]

def loss(p, x, y):
    logp = jax.nn.log_softmax(apply_fn({"params": p}, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], 1))

def per_device_bytes(tree):
    used = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            used[shard.device] = used.get(shard.device, 0) + shard.data.nbytes
    return max(used.values())
"""

TRAINING = """
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.{kind},))
OPTIMIZERS = {{
    "sgd_momentum": lambda: tsx.sgd(0.1, momentum=0.9),
    "adamw": lambda: tsx.adamw(1e-2, weight_decay=0.1),
    "lion": lambda: tsx.lion(1e-3, weight_decay=0.1),
    "adafactor": lambda: tsx.adafactor(1e-2),
    "muon": lambda: tsx.contrib.muon(1e-2),
    "clip_adamw": lambda: tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(1e-2)),
}}
shapes = {{"w1": (64, 256), "w2": (256, 256), "b": (256,), "w3": (256, 16)}}
out = {{}}
with jax.set_mesh(mesh):
    params = jax.device_put(mlp(shapes), NamedSharding(mesh, P()))
    data = NamedSharding(mesh, P("data"))
    x = jax.device_put(jnp.asarray(rng.normal(size=(64, 64)), jnp.float32), data)
    y = jax.device_put(jnp.asarray(rng.integers(0, 16, 64)), data)

    @jax.jit
    def step(state, x, y):
        return state.apply_gradients(grads=jax.grad(loss)(state.params, x, y))

    for name in {names!r}:
        finals = []
        for zero in (None, "data"):
            state = TrainState.create(apply_fn=apply_fn, params=params,
                                      tx=OPTIMIZERS[name](), zero_axis=zero,
                                      ema_decay=0.9)
            for _ in range(20):
                state = step(state, x, y)
            finals.append(state)
        replicated, sharded = finals
        for a, b in zip(jax.tree.leaves((replicated.params, replicated.ema)),
                        jax.tree.leaves((sharded.params, sharded.ema))):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5,
                                       atol=1e-6, err_msg=name)
        for k, p in sharded.params.items():
            assert p.sharding.is_equivalent_to(params[k].sharding, p.ndim), k
        total = sum(l.nbytes for l in jax.tree.leaves(sharded.opt_state))
        out[name] = {{
            "state_fraction": per_device_bytes(sharded.opt_state) / total,
            "replicated_fraction": per_device_bytes(replicated.opt_state) / total,
            "ema_fraction": per_device_bytes(sharded.ema.params)
            / per_device_bytes(replicated.ema.params),
        }}
        if name == "adamw":
            hlo = {{z: step.lower(s, x, y).compile().as_text()
                   for z, s in (("replicated", replicated), ("zero", sharded))}}
            out["hlo"] = {{z: {{op: len(re.findall(op + r"\\(", text))
                              for op in ("all-reduce", "all-gather")}}
                         for z, text in hlo.items()}}
            # The moments enter the step as 1/8 shards: (256, 256) -> (32, 256).
            entry = hlo["zero"].split("ENTRY")[1].split("\\n")[0]
            out["hlo"]["shard_params"] = "f32[32,256]" in entry
            out["hlo"]["full_params"] = "f32[256,256]" in entry
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    "kind,names",
    [
        ("Auto", ["sgd_momentum", "adamw", "lion", "adafactor", "muon", "clip_adamw"]),
        ("Explicit", ["adamw", "muon", "adafactor"]),
    ],
)
def test_zero_matches_the_replicated_run_with_an_eighth_of_the_state(kind, names):
    out = run_with_cpu_devices(
        COMMON + TRAINING.format(kind=kind, names=names), timeout=600
    )
    for name in names:
        assert out[name]["replicated_fraction"] == 1.0
        # Goal: at most 1/8 of the state per device, + 10%.
        assert out[name]["state_fraction"] <= 1 / 8 * 1.1, (name, out[name])
        assert out[name]["ema_fraction"] <= 1 / 8 * 1.1, (name, out[name])
    hlo = out["hlo"]
    # Replicated: the gradient all-reduce, nothing gathered. ZeRO: the
    # updated params are gathered back; the moments are held as shards.
    assert hlo["replicated"]["all-gather"] == 0
    assert hlo["zero"]["all-gather"] >= 3
    assert hlo["shard_params"] and hlo["full_params"]  # state shards, params


FLOPS = (
    COMMON
    + r"""
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
shapes = {f"w{i:02d}": (128, 128) for i in range(16)}
with jax.set_mesh(mesh):
    params = jax.device_put(mlp(shapes), NamedSharding(mesh, P()))
    grads = jax.tree.map(lambda p: jnp.cos(p), params)
    costs, finals = {}, {}
    for zero in (None, "data"):
        state = TrainState.create(apply_fn=None, params=params,
                                  tx=tsx.contrib.muon(0.02), zero_axis=zero)
        step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
        # Each stack of same-shaped matrices runs through one loop (lax.map);
        # cost_analysis counts a loop body once, so read the trip counts.
        hlo = step.lower(state, grads).compile().as_text()
        costs[str(zero)] = [
            int(n) for n in re.findall(r'known_trip_count":\{"n":"(\d+)"', hlo)
        ]
        finals[str(zero)] = step(step(state, grads), grads).params
    for k in shapes:
        np.testing.assert_allclose(np.asarray(finals["data"][k]),
                                   np.asarray(finals["None"][k]), rtol=1e-5, atol=1e-6)
print(json.dumps(costs))
"""
)


def test_muon_with_zero_splits_newton_schulz_over_the_devices():
    trips = run_with_cpu_devices(FLOPS, timeout=600)
    # The 16 matrices, 16 / 8 on each device: with ZeRO, and without it as
    # the mesh in context spreads the work by itself.
    assert trips == {"None": [2], "data": [2]}, trips


BORN_SHARDED = (
    COMMON
    + """
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
shapes = {"w1": (64, 256), "w2": (256, 256), "b": (256,), "w3": (256, 16)}
params = jax.device_put(mlp(shapes), NamedSharding(mesh, P()))
tx = tsx.adamw(1e-3)
naive = jax.jit(tx.init)(params)
shardings = tsx.sharding.state_shardings(tx, params, zero_axis="data")
born = jax.jit(tx.init, out_shardings=shardings)(params)
state = TrainState.create(apply_fn=apply_fn, params=params, tx=tx, zero_axis="data")

def largest_piece(tree):
    # The largest fraction of any big leaf that one device holds.
    return max(max(s.data.size for s in l.addressable_shards) / l.size
               for l in jax.tree.leaves(tree) if l.size >= 1024)

print(json.dumps({
    "naive_devices": sorted(
        {len(l.sharding.device_set) for l in jax.tree.leaves(naive)}),
    "born": largest_piece(born),
    "init": largest_piece(tsx.sharding.init(tx, params, zero_axis="data")),
    "train_state": largest_piece(state.opt_state),
    "train_state_shardings": all(
        a.sharding.is_equivalent_to(b, a.ndim)
        for a, b in zip(jax.tree.leaves((state.params, state.opt_state)),
                        jax.tree.leaves((state.shardings().params,
                                         state.shardings().opt_state)))
    ),
}))
"""
)


def test_state_is_created_sharded_never_whole_on_one_device():
    out = run_with_cpu_devices(BORN_SHARDED, timeout=300)
    assert out["naive_devices"] == [1]  # what plain jax.jit(tx.init) gives
    assert out["born"] == out["init"] == out["train_state"] == 1 / 8
    assert out["train_state_shardings"]


WITHOUT_SET_MESH = (
    COMMON
    + """
mesh = jax.make_mesh((8,), ("data",))  # Explicit axes, JAX's default
shapes = {"w1": (64, 256), "w2": (256, 256), "b": (256,), "w3": (256, 16)}
params = jax.device_put(mlp(shapes), NamedSharding(mesh, P()))
x = jnp.asarray(rng.normal(size=(64, 64)), jnp.float32)
y = jnp.asarray(rng.integers(0, 16, 64))
out = {}
for name, make in {"muon": lambda: tsx.contrib.muon(1e-2),
                   "adamw": lambda: tsx.adamw(1e-2)}.items():
    ends = []
    for zero_axis in (None, "data"):
        state = TrainState.create(
            apply_fn=apply_fn, params=params, tx=make(), zero_axis=zero_axis
        )
        # No jax.set_mesh anywhere: the user's own jit on sharded arrays.
        step = jax.jit(lambda s, x, y: s.apply_gradients(
            grads=jax.grad(loss)(s.params, x, y)))
        for _ in range(3):
            state = step(state, x, y)
        ends.append(jax.tree.map(np.asarray, state.params))
    out[name] = max(
        float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))
        for a, b in zip(jax.tree.leaves(ends[1]), jax.tree.leaves(ends[0]))
    )
print(json.dumps(out))
"""
)


def test_zero_on_an_explicit_mesh_needs_no_set_mesh():
    out = run_with_cpu_devices(WITHOUT_SET_MESH, timeout=300)
    assert out["muon"] < 1e-5 and out["adamw"] < 1e-5, out
