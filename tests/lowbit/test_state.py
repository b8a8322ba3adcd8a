"""quantized_state: Optax's float32-state optimizers as the oracle, state bytes."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.devices import run_with_cpu_devices
from tsx.lowbit import LowBitState, QuantizedArray, quantized_state, state_bytes


def _params():
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    return {
        "dense": {"kernel": 0.1 * jax.random.normal(keys[0], (32, 64))},
        "stack": 0.1 * jax.random.normal(keys[1], (2, 16, 48)),
        "bias": jnp.zeros(8),
    }


def _grad(params, i):
    # A fixed quadratic's gradient plus step-dependent noise.
    key = jax.random.fold_in(jax.random.PRNGKey(1), i)
    noise = jax.tree.map(
        lambda p, k: 0.1 * jax.random.normal(k, p.shape),
        params,
        jax.tree.unflatten(
            jax.tree.structure(params),
            jax.random.split(key, len(jax.tree.leaves(params))),
        ),
    )
    return jax.tree.map(lambda p, n: p - 0.5 + n, params, noise)


def _pairs():
    """(name, tsx transformation, Optax transformation with float32 state)."""
    label = lambda p: jax.tree.map(lambda x: "a" if x.ndim > 1 else "b", p)  # noqa: E731
    return [
        ("adam", tsx.adam(1e-2), optax.adam(1e-2)),
        (
            "adamw",
            tsx.adamw(1e-2, weight_decay=0.1),
            optax.adamw(1e-2, weight_decay=0.1),
        ),
        ("lion", tsx.lion(1e-3), optax.lion(1e-3)),
        ("sgd_momentum", tsx.sgd(1e-2, momentum=0.9), optax.sgd(1e-2, momentum=0.9)),
        ("rmsprop", tsx.rmsprop(1e-3), optax.rmsprop(1e-3)),
        (
            "adafactor_momentum",
            tsx.adafactor(1e-2, momentum=0.9, min_dim_size_to_factor=16),
            optax.adafactor(1e-2, momentum=0.9, min_dim_size_to_factor=16),
        ),
        ("muon", tsx.contrib.muon(1e-2), optax.contrib.muon(1e-2)),
        (
            "clip_adamw",
            tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(1e-2)),
            optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2)),
        ),
        (
            "partition",
            tsx.partition({"a": tsx.adam(1e-2), "b": tsx.sgd(1e-2)}, label),
            optax.partition({"a": optax.adam(1e-2), "b": optax.sgd(1e-2)}, label),
        ),
    ]


PAIRS = _pairs()
# Relative distance of the parameters after 30 steps from Optax's float32 run.
TOLERANCE = {16: 0.01, 8: 0.03, 4: 0.2}


def _run(tx, params, steps, **kwargs):
    state = tx.init(params)

    @jax.jit
    def step(params, state, i):
        updates, state = tx.update(_grad(params, i), state, params, **kwargs)
        return optax.apply_updates(params, updates), state

    for i in range(steps):
        params, state = step(params, state, i)
    return params, state


def _distance(a, b):
    num = sum(
        float(jnp.sum((x - y) ** 2))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    den = sum(
        float(jnp.sum((x - y0) ** 2))
        for x, y0 in zip(jax.tree.leaves(b), jax.tree.leaves(_params()), strict=True)
    )
    return (num / den) ** 0.5


@pytest.mark.parametrize("bits", [16, 8, 4])
@pytest.mark.parametrize("name, ours, theirs", PAIRS, ids=[p[0] for p in PAIRS])
def test_tracks_optax_float32_state(name, ours, theirs, bits):
    params = _params()
    tx = quantized_state(ours, bits, min_size=256)
    # Step 1 starts from a zero state, which every code stores exactly: the
    # first update is Optax's to float32 precision.
    p1, state = _run(tx, params, 1)
    o1, _ = _run(theirs, params, 1)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(o1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert isinstance(state, LowBitState) and int(state.count) == 1
    assert any(
        isinstance(x, QuantizedArray)
        for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, QuantizedArray))
    )
    # Then it follows Optax's trajectory within the code's precision.
    p30, _ = _run(tx, params, 30)
    o30, _ = _run(theirs, params, 30)
    assert _distance(p30, o30) < TOLERANCE[bits], name


def test_small_integer_and_scalar_leaves_stay_as_they_are():
    params = _params()
    state = quantized_state(tsx.adam(1e-3), 8, min_size=256).init(params)
    adam = state.inner_state[0]
    assert isinstance(adam.mu["dense"]["kernel"], QuantizedArray)
    assert isinstance(adam.nu["stack"], QuantizedArray)
    assert not isinstance(adam.mu["bias"], QuantizedArray)  # 8 < min_size
    assert adam.count.dtype == jnp.int32


def test_bf16_state_moves_where_round_to_nearest_stalls():
    # An accumulator of constant tiny increments: stored in bfloat16 with
    # round-to-nearest it stops at the first value whose half-ulp exceeds the
    # increment (1e-4 < 2^-9 * x once x > 0.05); with stochastic rounding it
    # tracks the exact sum, 0.3 after 3000 steps, up to its random walk.
    def accumulate():
        init = lambda p: jax.tree.map(jnp.zeros_like, p)  # noqa: E731
        update = lambda g, s, p=None: (g, jax.tree.map(jnp.add, s, g))  # noqa: E731
        return tsx.GradientTransformation(init, update)

    params = {"w": jnp.zeros(4096)}
    grads = {"w": jnp.full(4096, 1e-4)}

    def run(tx):
        state = tx.init(params)
        body = lambda i, s: tx.update(grads, s, params)[1]  # noqa: E731
        return jax.lax.fori_loop(0, 3000, body, state)

    sr = run(quantized_state(accumulate(), 16, min_size=16))
    stored = sr.inner_state["w"]
    assert stored.codes.dtype == jnp.bfloat16
    mean = float(jnp.mean(stored.codes.astype(jnp.float32)))
    assert abs(mean - 0.3) < 0.005

    def nearest_update(g, s, p=None):
        return g, jax.tree.map(
            lambda a, b: (a.astype(jnp.float32) + b).astype(jnp.bfloat16), s, g
        )

    rtn = run(
        tsx.GradientTransformation(
            lambda p: jax.tree.map(lambda x: jnp.zeros_like(x, jnp.bfloat16), p),
            nearest_update,
        )
    )
    assert float(jnp.max(rtn["w"].astype(jnp.float32))) < 0.07


@pytest.mark.parametrize("bits, budget", [(32, 8.001), (16, 4.05), (8, 2.1), (4, 1.1)])
def test_adamw_state_bytes_per_parameter_on_gpt2_small(bits, budget):
    from benchmarks.workloads import gpt2_small_shapes

    shapes = gpt2_small_shapes()
    tx = tsx.adamw(1e-3) if bits == 32 else quantized_state(tsx.adamw(1e-3), bits)
    state = jax.eval_shape(tx.init, shapes)
    n = sum(x.size for x in jax.tree.leaves(shapes))
    per_param = state_bytes(state) / n
    assert per_param <= budget
    assert per_param > budget / 2


def test_non_finite_state_is_refused_by_the_train_state_guard():
    from tsx import training

    params = _params()
    state = training.TrainState.create(
        apply_fn=None,
        params=params,
        tx=quantized_state(tsx.adamw(1e-3), 8, min_size=256),
        skip_nonfinite=True,
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    state = step(state, _grad(params, 0))
    before = jax.tree.leaves(state.opt_state)
    # A finite gradient whose square overflows the second moment to inf.
    huge = jax.tree.map(lambda g: g.at[(0,) * g.ndim].set(1e20), _grad(params, 1))
    after = step(state, huge)
    assert int(after.skipped_steps) == 1 and int(after.step) == 1
    for a, b in zip(jax.tree.leaves(after.opt_state), before, strict=True):
        np.testing.assert_array_equal(a, b)
    after = step(after, _grad(params, 2))
    assert int(after.step) == 2


def test_train_state_with_accumulation_ema_and_loss_scale():
    from tsx import training

    params = _params()
    state = training.TrainState.create(
        apply_fn=None,
        params=params,
        tx=quantized_state(tsx.adamw(1e-2), 4, min_size=256),
        accumulate_steps=2,
        ema_decay=0.9,
        loss_scale=training.DynamicLossScale(initial_scale=2.0**8),
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    ref = optax.MultiSteps(optax.adamw(1e-2), every_k_schedule=2)
    ref_state = ref.init(params)
    ref_params = params
    for i in range(6):
        g = _grad(params, i)
        state = step(state, g)
        u, ref_state = ref.update(g, ref_state, ref_params)
        ref_params = optax.apply_updates(ref_params, u)
    assert int(state.step) == 3
    assert _distance(state.params, ref_params) < TOLERANCE[4]
    assert all(
        bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state.ema_params)
    )


def test_checkpoint_round_trip_is_exact(tmp_path):
    from tsx import training

    params = _params()
    tx = quantized_state(tsx.adamw(1e-2), 4, min_size=256)
    state = training.TrainState.create(apply_fn=None, params=params, tx=tx)
    state = jax.jit(lambda s, g: s.apply_gradients(grads=g))(state, _grad(params, 0))
    with training.CheckpointManager(tmp_path) as manager:
        manager.save(1, state)
        manager.wait_until_finished()
        target = training.TrainState.create(apply_fn=None, params=params, tx=tx)
        restored = manager.restore(target)
    stored = jax.tree.leaves(
        state.opt_state, is_leaf=lambda x: isinstance(x, QuantizedArray)
    )
    back = jax.tree.leaves(
        restored.opt_state, is_leaf=lambda x: isinstance(x, QuantizedArray)
    )
    assert any(isinstance(x, QuantizedArray) for x in back)
    for a, b in zip(
        jax.tree.leaves(state.opt_state),
        jax.tree.leaves(restored.opt_state),
        strict=True,
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert len(stored) == len(back)


def test_bad_arguments_fail_when_built():
    with pytest.raises(ValueError, match="bits"):
        quantized_state(tsx.adam(1e-3), bits=3)
    with pytest.raises(ValueError, match="block_size"):
        quantized_state(tsx.adam(1e-3), block_size=1)
    with pytest.raises(TypeError, match="inner"):
        quantized_state("adam")
    with pytest.raises(ValueError, match="min_size"):
        quantized_state(tsx.adam(1e-3), min_size=-1)


SHARDED = """
import json, jax, jax.numpy as jnp, numpy as np, optax, tsx
from jax.sharding import NamedSharding, PartitionSpec as P
mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
shard = lambda x, spec: jax.device_put(x, NamedSharding(mesh, spec))
host = {"kernel": jnp.linspace(-1, 1, 256 * 128).reshape(256, 128),
        "stack": jnp.linspace(-1, 1, 4 * 64 * 32).reshape(4, 64, 32),
        "bias": jnp.linspace(-1, 1, 256)}
specs = {"kernel": P("data", None), "stack": P(None, "data", None), "bias": P("data")}
params = jax.tree.map(shard, host, specs)
grad = lambda p: jax.tree.map(lambda x: x - 0.3, p)
makers = {
    "adam": lambda: tsx.adam(1e-2), "adamw": lambda: tsx.adamw(1e-2),
    "lion": lambda: tsx.lion(1e-3), "sgd": lambda: tsx.sgd(1e-2, momentum=0.9),
    "rmsprop": lambda: tsx.rmsprop(1e-3),
    "adafactor": lambda: tsx.adafactor(1e-2, momentum=0.9),
    "muon": lambda: tsx.contrib.muon(1e-2),
}
out = {}
for name, make in makers.items():
    for bits in (16, 8, 4):
        tx = tsx.quantized_state(make(), bits, min_size=128)
        def step(p, s):
            u, s = tx.update(grad(p), s, p)
            return optax.apply_updates(p, u), s
        p, s = params, jax.jit(tx.init)(params)
        rp, rs = host, tx.init(host)
        jitted = jax.jit(step)  # one program for the sharded and the host arrays
        for _ in range(2):
            p, s = jitted(p, s)
            rp, rs = jitted(rp, rs)
        diffs = [float(jnp.max(jnp.abs(a - b)))
                 for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(rp))]
        out[f"{name}/{bits}"] = [max(diffs), str(p["kernel"].sharding.spec)]

# Blocks are local: with the state sharded like the params (codes and scales
# split along the same leading axes), Adam's step needs no communication.
def spec_of(x):
    # Codes and scales keep the leading axes of the leaf they stand for.
    if x.ndim >= 1 and x.shape[0] == 256:
        return P("data", *[None] * (x.ndim - 1))
    if x.ndim >= 2 and x.shape[0] == 4:
        return P(None, "data", *[None] * (x.ndim - 2))
    return P()
local = {}
for bits in (16, 8, 4):
    tx = tsx.quantized_state(tsx.adam(1e-2), bits, min_size=1024)
    state = tx.init(host)
    state = jax.tree.map(lambda x: shard(x, spec_of(x)), state)
    shardings = jax.tree.map(lambda x: x.sharding, (params, state))
    def step(p, s):
        u, s = tx.update(grad(p), s, p)
        return optax.apply_updates(p, u), s
    hlo = jax.jit(step, in_shardings=shardings, out_shardings=shardings).lower(
        params, state).compile().as_text()
    local[bits] = [c for c in ("all-gather", "all-reduce", "all-to-all",
                               "collective-permute") if c in hlo]
print(json.dumps({"numbers": out, "collectives": local}))
"""


def test_sharded_params_on_eight_devices_match_one_device():
    out = run_with_cpu_devices(SHARDED)
    assert len(out["numbers"]) == 21
    for key, (diff, spec) in out["numbers"].items():
        assert diff < 1e-5, key
        assert spec == "P('data',)", key
    # Sharded like the moments they replace, the codes need no collective.
    assert out["collectives"] == {"16": [], "8": [], "4": []}
