"""PSGD-Kron: determinism, the update probability, and its fixed point."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx


def _steps(tx, grads, n):
    state = tx.init(jax.tree.map(jnp.zeros_like, grads))
    update = jax.jit(tx.update)
    for _ in range(n):
        updates, state = update(grads, state)
    return updates, state


def test_same_seed_same_numbers_other_seed_other_numbers():
    grads = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)))}
    a, _ = _steps(tsx.contrib.scale_by_kron(seed=7), grads, 3)
    b, _ = _steps(tsx.contrib.scale_by_kron(seed=7), grads, 3)
    c, _ = _steps(tsx.contrib.scale_by_kron(seed=8), grads, 3)
    np.testing.assert_array_equal(np.asarray(a["w"]), np.asarray(b["w"]))
    assert not np.allclose(np.asarray(a["w"]), np.asarray(c["w"]))


def test_update_probability_follows_its_formula():
    steps = np.array([0, 499, 500, 1500, 10_000])
    got = np.asarray(tsx.contrib.update_probability(steps))
    want = np.clip(np.exp(-0.001 * np.maximum(steps - 500, 0)), 0.03, 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_without_fitting_the_step_is_the_clipped_momentum():
    g = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32) * 5
    tx = tsx.contrib.scale_by_kron(
        b1=0.0, max_prob=0.0, min_prob=0.0, precond_init_scale=1.0
    )
    updates, state = _steps(tx, {"w": jnp.asarray(g)}, 2)
    rms = np.sqrt(np.mean(g**2))
    np.testing.assert_allclose(
        np.asarray(updates["w"]), g * min(1.0, 1.1 / rms), rtol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(state.factors["w"][0][0]), np.eye(4))


def test_default_initial_scale_gives_the_first_step_unit_rms_by_fourth_moment():
    # Q_L = Q_R = c I with c = mean(g^4)^(-1/16): P(g) = c^4 g.
    g = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32) * 1e-3
    tx = tsx.contrib.scale_by_kron(b1=0.0, max_prob=0.0, min_prob=0.0)
    updates, state = _steps(tx, {"w": jnp.asarray(g)}, 2)
    c = np.mean(g.astype(np.float64) ** 4) ** (-1 / 16)
    want = g * c**4
    want = want * min(1.0, 1.1 / np.sqrt(np.mean(want**2)))
    np.testing.assert_allclose(np.asarray(updates["w"]), want, rtol=1e-4)
    np.testing.assert_allclose(
        np.asarray(state.factors["w"][1][0]), c * np.eye(4), rtol=1e-5
    )


def test_diagonal_factors_converge_to_the_inverse_root_of_the_second_moment():
    # A constant gradient g: PSGD's fixed point E[A A^T] = E[B B^T] is
    # P = 1 / |g| elementwise, so the step tends to sign(g), like Adam's. One
    # Gaussian probe per step makes the factors fluctuate around it: compare
    # the geometric mean of the last 500 steps.
    g = jnp.asarray([[0.5, -1.0, 2.0, -0.7, 1.5]])
    tx = tsx.contrib.scale_by_kron(b1=0.0, max_precond_dim=0, preconditioner_lr=0.05)
    state = tx.init({"w": g})
    update = jax.jit(tx.update)
    history = []
    for _ in range(2000):
        updates, state = update({"w": g}, state)
        history.append(np.asarray(updates["w"][0]))
    tail = np.array(history[-500:])
    assert np.all(np.sign(tail) == np.sign(np.asarray(g[0])))
    mean = np.exp(np.mean(np.log(np.abs(tail)), axis=0))
    np.testing.assert_allclose(mean, 1.0, rtol=0.25)


def test_bfloat16_factors_are_stored_in_bfloat16_and_track_float32():
    rng = np.random.default_rng(5)
    seq = [{"w": jnp.asarray(rng.normal(size=(12, 8)), jnp.float32)} for _ in range(8)]
    runs = {}
    for dtype in (None, jnp.bfloat16):
        tx = tsx.contrib.scale_by_kron(precond_dtype=dtype)
        state = tx.init({"w": jnp.zeros((12, 8))})
        update = jax.jit(tx.update)
        for g in seq:
            updates, state = update(g, state)
        runs[dtype] = (updates["w"], state)
    low, low_state = runs[jnp.bfloat16]
    assert all(q.dtype == jnp.bfloat16 for q in jax.tree.leaves(low_state.factors))
    full = runs[None][0]
    # bfloat16 keeps 8 bits of mantissa: relative error about 2^-8 per entry.
    assert np.linalg.norm(low - full) / np.linalg.norm(full) < 0.02
    with pytest.raises(ValueError, match="precond_dtype"):
        tsx.contrib.kron(1e-3, precond_dtype="float17")
