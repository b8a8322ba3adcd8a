"""The whole TrainState is a pytree: it jits, donates, shards and serializes."""

import os
import subprocess
import sys
import textwrap

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

import tsx
from tests.training.models import MLP, mlp_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _full_state(params):
    return tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.adam(1e-2),
        batch_stats={"m": jnp.zeros(3)},
        ema_decay=0.9,
        accumulate_steps=2,
        loss_scale=tsx.training.DynamicLossScale(2.0**8),
    )


def test_donated_state_is_consumed_and_results_match():
    params = mlp_params()
    g = jax.tree.map(jnp.ones_like, params)
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    donating = jax.jit(lambda s, g: s.apply_gradients(grads=g), donate_argnums=0)
    ref = step(step(_full_state(params), g), g)
    # Donation consumes the params' buffers: give it its own copy.
    state = _full_state(jax.tree.map(jnp.copy, params))
    mid = donating(state, g)
    out = donating(mid, g)
    assert state.ema_params["Dense_0"]["kernel"].is_deleted()
    assert mid.grad_accum["Dense_0"]["kernel"].is_deleted()
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref), strict=True):
        np.testing.assert_array_equal(a, b)


def test_flax_serialization_round_trip():
    params = mlp_params()
    g = jax.tree.map(jnp.ones_like, params)
    state = _full_state(params).apply_gradients(grads=g)
    data = flax.serialization.to_bytes(state)
    restored = flax.serialization.from_bytes(_full_state(params), data)
    assert int(restored.micro_step) == 1
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)
    sd = flax.serialization.to_state_dict(state)
    assert set(sd["guard"]["loss_scale"]) == {"scale", "good_steps"}
    assert set(sd["guard"]) == {"skipped_steps", "state_nonfinite", "loss_scale"}
    assert set(sd["ema"]) == {"params", "batch_stats"}
    assert set(sd["accumulation"]) == {"mean", "count"}


SHARDING_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    import flax.linen as nn
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import tsx

    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))

    class Net(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(16, 8)(tokens).mean(axis=1)
            x = nn.LayerNorm()(nn.Dense(8)(x))
            return nn.Dense(4)(x)

    model = Net()
    tokens = jnp.arange(32, dtype=jnp.int32).reshape(8, 4) % 16
    params = jax.jit(model.init)(jax.random.PRNGKey(0), tokens)["params"]

    def spec(path, x):
        if x.ndim == 2:
            return P("data", "model")
        return P("model") if x.shape[0] % 2 == 0 else P()

    shardings = jax.tree_util.tree_map_with_path(
        lambda p, x: NamedSharding(mesh, spec(p, x)), params
    )
    params = jax.device_put(params, shardings)
    state = tsx.training.TrainState.create(
        apply_fn=model.apply, params=params, tx=tsx.adamw(1e-2),
        ema_decay=0.9, accumulate_steps=2,
        loss_scale=tsx.training.DynamicLossScale(2.0**8),
    )

    def check(state, where):
        mu, nu = state.opt_state[0].mu, state.opt_state[0].nu
        for tree, name in ((state.params, "params"), (mu, "mu"), (nu, "nu"),
                           (state.ema_params, "ema"), (state.grad_accum, "accum")):
            for s, x, ref in zip(jax.tree.leaves(shardings), jax.tree.leaves(tree),
                                 jax.tree.leaves(params)):
                assert x.sharding.is_equivalent_to(s, x.ndim), (where, name, x.sharding)
                assert len(x.sharding.device_set) == 8

    check(state, "create")

    batch_sharding = NamedSharding(mesh, P("data"))

    @jax.jit
    def train_step(state, tokens):
        def loss_fn(p):
            return jnp.mean(model.apply({"params": p}, tokens) ** 2)
        _, grads = state.value_and_grad(loss_fn, return_finite=False)(state.params)
        return state.apply_gradients(grads=grads)

    step = jax.jit(train_step, donate_argnums=0)
    for i in range(4):
        state = step(state, jax.device_put((tokens + i) % 16, batch_sharding))
    check(state, "after steps")
    assert int(state.step) == 2 and int(state.skipped_steps) == 0
    print("SHARDING OK")
    """
)


def test_opt_state_and_ema_follow_a_named_sharding_over_8_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", SHARDING_SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SHARDING OK" in proc.stdout
