"""tsx where users put it: jit, vmap, sharding, Orbax checkpoints, Optax chains."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, grads_at, nested_params, state_layout

REPO = Path(__file__).resolve().parents[1]


def test_jit_compiles_once_across_steps():
    tx = tsx.adamw(tsx.cosine_decay_schedule(1e-2, 100), weight_decay=1e-3)
    params = nested_params()
    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(1)
        updates, state = tx.update(grads, state, params)
        return tsx.apply_updates(params, updates), state

    state = tx.init(params)
    for i in range(6):
        params, state = step(params, state, grads_at(params, i))
    assert len(traces) == 1


def test_vmap_over_learning_rates_matches_optax():
    params = nested_params()
    grads = [grads_at(params, i) for i in range(5)]
    lrs = jnp.array([1e-3, 1e-2, 1e-1])

    def run(lib, lr):
        tx = lib.adam(lr)
        state = tx.init(params)
        p = params
        for g in grads:
            u, state = tx.update(g, state, p)
            p = lib.apply_updates(p, u)
        return p

    ours = jax.vmap(lambda lr: run(tsx, lr))(lrs)
    theirs = jax.vmap(lambda lr: run(optax, lr))(lrs)
    assert_trees_close(ours, theirs)
    # Each row equals the unbatched run with that learning rate.
    assert_trees_close(jax.tree.map(lambda x: x[1], ours), run(tsx, 1e-2))


@pytest.mark.parametrize("outer", ["tsx", "optax"])
def test_mixed_chains_match_pure_optax(outer):
    lib = tsx if outer == "tsx" else optax
    mixed = lib.chain(
        optax.clip_by_global_norm(1.0)
        if outer == "tsx"
        else tsx.clip_by_global_norm(1.0),
        tsx.scale_by_adam() if outer == "tsx" else optax.scale_by_adam(),
        tsx.add_decayed_weights(1e-2)
        if outer == "optax"
        else optax.add_decayed_weights(1e-2),
        tsx.scale(-1e-2),
    )
    pure = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(),
        optax.add_decayed_weights(1e-2),
        optax.scale(-1e-2),
    )
    params = nested_params()
    s_m, s_p = mixed.init(params), pure.init(params)
    assert state_layout(s_m) == state_layout(s_p)
    for i in range(5):
        g = grads_at(params, i)
        u_m, s_m = mixed.update(g, s_m, params)
        u_p, s_p = pure.update(g, s_p, params)
        assert_trees_close(u_m, u_p)


def test_structure_mismatch_names_first_differing_path():
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    tx = tsx.adam(1e-3)
    state = tx.init(params)
    bad = {"dense": {"kernel": jnp.ones((2, 2)), "bais": jnp.ones(2)}}
    with pytest.raises(ValueError, match=r"\['dense'\]\['bais'\]"):
        tx.update(bad, state, params)
    with pytest.raises(ValueError, match=r"\['dense'\]\['bais'\]"):
        tx.update(bad, state)  # without params, checked against the state
    missing = {"dense": {"kernel": jnp.ones((2, 2))}}
    with pytest.raises(ValueError, match="lack the leaf at \\['dense'\\]\\['bias'\\]"):
        tx.update(missing, state, params)


def test_none_leaves_behave_like_optax():
    params = {"a": jnp.ones(3), "b": None}
    grads = {"a": jnp.full(3, 0.5), "b": None}
    out = []
    for lib in (tsx, optax):
        tx = lib.sgd(0.1, momentum=0.9)
        s = tx.init(params)
        u, s = tx.update(grads, s, params)
        out.append(lib.apply_updates(params, u))
    assert out[0]["b"] is None and out[1]["b"] is None
    np.testing.assert_allclose(out[0]["a"], out[1]["a"])


def test_integer_params_keep_their_dtype_like_optax():
    params = {"w": jnp.ones(3), "step": jnp.array(7, jnp.int32)}
    grads = {"w": jnp.full(3, 0.5), "step": jnp.array(0, jnp.int32)}
    out = []
    for lib in (tsx, optax):
        tx = lib.sgd(0.1)
        u, _ = tx.update(grads, tx.init(params), params)
        out.append(lib.apply_updates(params, u))
    assert out[0]["step"].dtype == out[1]["step"].dtype == jnp.int32
    assert int(out[0]["step"]) == int(out[1]["step"]) == 7


def test_optax_checkpoint_restores_into_tsx_with_orbax(tmp_path):
    import orbax.checkpoint as ocp

    params = nested_params()
    make = lambda lib: lib.chain(  # noqa: E731
        lib.clip_by_global_norm(1.0),
        lib.adamw(lib.linear_schedule(1e-2, 1e-3, 10), weight_decay=1e-2),
    )
    opt_o, opt_t = make(optax), make(tsx)
    s_o = opt_o.init(params)
    p_o = params
    for i in range(3):
        u, s_o = opt_o.update(grads_at(params, i), s_o, p_o)
        p_o = optax.apply_updates(p_o, u)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(tmp_path / "ckpt", {"params": p_o, "opt_state": s_o})
    ckpt.wait_until_finished()
    target = {"params": params, "opt_state": opt_t.init(params)}
    restored = ckpt.restore(tmp_path / "ckpt", target)
    p_t, s_t = restored["params"], restored["opt_state"]
    assert type(s_t[1][0]).__module__.startswith("tsx")
    for i in range(3, 6):
        g = grads_at(params, i)
        u_t, s_t = opt_t.update(g, s_t, p_t)
        u_o, s_o = opt_o.update(g, s_o, p_o)
        p_t, p_o = tsx.apply_updates(p_t, u_t), optax.apply_updates(p_o, u_o)
    assert_trees_close(p_t, p_o)


SHARDING_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import tsx
    assert len(jax.devices()) == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    params = {"w": jnp.arange(64.0).reshape(8, 8) / 64, "b": jnp.ones(8)}
    specs = {"w": P("data", "model"), "b": P("model")}
    shardings = {k: NamedSharding(mesh, s) for k, s in specs.items()}
    params = jax.device_put(params, shardings)
    for name, lib in (("tsx", tsx), ("optax", optax)):
        tx = lib.chain(lib.clip_by_global_norm(1.0), lib.adamw(1e-2))
        state = tx.init(params)
        def check(state):
            mu = state[1][0].mu
            for k in params:
                same = mu[k].sharding.is_equivalent_to(shardings[k], mu[k].ndim)
                assert same, (name, k, mu[k].sharding)
        check(state)
        @jax.jit
        def step(p, s):
            g = jax.tree.map(lambda x: jnp.sin(x) + 0.1, p)
            u, s = tx.update(g, s, p)
            return lib.apply_updates(p, u), s
        p = params
        for _ in range(3):
            p, state = step(p, state)
        check(state)
        for k in params:
            assert p[k].sharding.is_equivalent_to(shardings[k], p[k].ndim), (name, k)
        flat = np.concatenate([np.ravel(p["w"]), np.ravel(p["b"])])
        np.save(f"{OUT}/{name}.npy", flat)
    print("ok")
    """
)


def test_state_is_sharded_like_params_on_8_devices(tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    script = f"OUT = {str(tmp_path)!r}\n" + SHARDING_SCRIPT
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "tsx.npy"),
        np.load(tmp_path / "optax.npy"),
        rtol=1e-5,
        atol=1e-6,
    )
