"""master_weights: bfloat16 params trained as float32 with an 8-bit rounding error.

Oracles: the float32 trajectory of the same optimizer, and closed forms (a
constant gradient moves a weight by exactly ``lr`` per step).
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tsx.lowbit import master_error, master_weights
from tsx.lowbit._master import decode_error, encode_error, spacing
from tsx.training import TrainState


def _effective(state, params):
    return jax.tree.map(
        lambda p, e: p.astype(jnp.float32) + e, params, master_error(state, params)
    )


def test_the_error_code_keeps_the_error_to_a_quarter_level():
    rng = np.random.default_rng(0)
    target = jnp.asarray(rng.normal(size=4096) * 10.0 ** rng.integers(-6, 6, 4096))
    target = target.astype(jnp.float32)
    stored = target.astype(jnp.bfloat16)
    error = target - stored.astype(jnp.float32)
    s = spacing(stored)
    assert bool(jnp.all(jnp.abs(error) <= s / 2))
    for bits, levels in ((8, 127), (16, 32767)):
        q = encode_error(error, stored, bits, jnp.int32(1), 0)
        back = decode_error(q, stored, bits)
        # Stochastic rounding: within one code step s / (2 L).
        assert float(jnp.max(jnp.abs(back - error) / s)) <= 1 / (2 * levels) + 1e-7


def test_spacing_is_the_gap_to_the_next_bfloat16():
    x = jnp.asarray([1.0, 1.5, -3.0, 1e-3, 1e20], jnp.bfloat16)
    up = jax.lax.bitcast_convert_type(
        jax.lax.bitcast_convert_type(jnp.abs(x), jnp.uint16) + 1, jnp.bfloat16
    )
    np.testing.assert_array_equal(
        spacing(x), (up.astype(jnp.float32) - jnp.abs(x).astype(jnp.float32))
    )


def test_small_steps_accumulate_where_bfloat16_params_stall():
    # A constant gradient: SGD moves w by lr per step, 200 steps -> 1 + 0.02.
    lr, steps = 1e-4, 200
    grads = {"w": -jnp.ones(256, jnp.bfloat16)}
    plain = {"w": jnp.ones(256, jnp.bfloat16)}
    params = dict(plain)
    tx, sgd = master_weights(tsx.sgd(lr)), tsx.sgd(lr)
    state, sgd_state = tx.init(params), sgd.init(plain)
    step = jax.jit(tx.update)
    for _ in range(steps):
        updates, state = step(grads, state, params)
        params = tsx.apply_updates(params, updates)
        u, sgd_state = sgd.update(grads, sgd_state, plain)
        plain = tsx.apply_updates(plain, u)
    assert params["w"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(plain["w"], 1.0)  # every step rounded away
    w = _effective(state, params)["w"]
    # 200 stochastic roundings of one code step (2^-7 / 254 at 1.0) each.
    np.testing.assert_allclose(np.mean(w), 1.02, atol=2e-5)
    assert float(jnp.max(jnp.abs(w - 1.02))) < 200**0.5 * 2**-7 / 254 * 4
    # The stored weight is the nearest bfloat16 of the master weight.
    assert float(jnp.max(jnp.abs(params["w"].astype(jnp.float32) - w))) <= 2**-8


def test_adamw_follows_the_float32_trajectory_on_least_squares():
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(64, 32)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(64, 8)), jnp.float32)

    def loss(w):
        return jnp.mean((a @ w["w"].astype(jnp.float32) - b) ** 2)

    def run(tx, dtype, steps=200):
        params = {"w": jnp.full((32, 8), 0.5, dtype)}
        state = tx.init(params)

        @jax.jit
        def step(params, state):
            g = jax.grad(loss)(params)
            u, state = tx.update(g, state, params)
            return tsx.apply_updates(params, u), state

        for _ in range(steps):
            params, state = step(params, state)
        return params, state

    f32, _ = run(tsx.adamw(3e-4), jnp.float32)
    bf16, _ = run(tsx.adamw(3e-4), jnp.bfloat16)
    comp, state = run(master_weights(tsx.adamw(3e-4)), jnp.bfloat16)
    w = _effective(state, comp)
    gap_plain = float(jnp.max(jnp.abs(bf16["w"].astype(jnp.float32) - f32["w"])))
    gap_comp = float(jnp.max(jnp.abs(w["w"] - f32["w"])))
    assert gap_comp < 1e-3, gap_comp
    assert gap_comp < gap_plain / 10, (gap_comp, gap_plain)
    np.testing.assert_allclose(loss(w), loss(f32), rtol=1e-3)


def test_other_dtypes_pass_through_and_state_is_float32():
    params = {"w": jnp.ones((4, 4), jnp.bfloat16), "b": jnp.zeros(4, jnp.float32)}
    tx = master_weights(tsx.adam(1e-2))
    state = tx.init(params)
    assert state.error["w"].dtype == jnp.int8 and state.error["b"] is None
    assert state.inner_state[0].mu["w"].dtype == jnp.float32
    grads = {"w": jnp.ones((4, 4), jnp.bfloat16), "b": jnp.ones(4)}
    updates, _ = tx.update(grads, state, params)
    ref, _ = tsx.adam(1e-2).update(grads, tsx.adam(1e-2).init(params), params)
    np.testing.assert_array_equal(updates["b"], ref["b"])
    with pytest.raises(ValueError, match="error_bits=4"):
        master_weights(tsx.sgd(0.1), error_bits=4)
    with pytest.raises(ValueError, match="needs params"):
        tx.update(grads, state)


def test_train_state_guard_accumulation_and_checkpoint():
    params = {"w": jnp.ones((8, 8), jnp.bfloat16)}
    tx = tsx.optimizers.build(
        "adamw", learning_rate=1e-3, state_bits=8, master_weights="bf16"
    )
    make = lambda: TrainState.create(  # noqa: E731
        apply_fn=None, params=params, tx=tx, skip_nonfinite=True, accumulate_steps=2
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    state = make()
    g = {"w": jnp.full((8, 8), 0.1, jnp.bfloat16)}
    for _ in range(4):
        state = step(state, g)
    state = step(step(state, jax.tree.map(lambda x: x * jnp.nan, g)), g)
    assert int(state.step) == 2 and int(state.skipped_steps) == 1
    assert state.params["w"].dtype == jnp.bfloat16
    restored = flax.serialization.from_bytes(make(), flax.serialization.to_bytes(state))
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="master_weights='fp8'"):
        tsx.optimizers.build("adamw", learning_rate=1e-3, master_weights="fp8")
