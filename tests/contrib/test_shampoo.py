"""Shampoo against its closed forms (no reference library exists)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tsx.contrib import MuonDimensionNumbers

EXACT = dict(
    b1=0.0,
    precondition_frequency=1,
    start_preconditioning_step=0,
    graft_type="none",
    matrix_eps=1e-7,
)


def test_first_step_without_grafting_is_the_polar_factor():
    g = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    tx = tsx.contrib.scale_by_shampoo(b2=0.5, **EXACT)
    params = {"w": jnp.zeros((6, 4))}
    updates, _ = jax.jit(tx.update)({"w": jnp.asarray(g)}, tx.init(params))
    u, _, vt = np.linalg.svd(g.astype(np.float64), full_matrices=False)
    # L = (1 - b2) G G^T and R likewise: the step is (1 - b2)^(-1/2) U V^T.
    np.testing.assert_allclose(
        np.asarray(updates["w"]) * np.sqrt(0.5), u @ vt, atol=2e-5
    )


def _numpy_shampoo(w, target, lr, b2, eps, steps):
    """Exact Shampoo in float64 on f(W) = ||W - T||^2 / 2 (gradient W - T)."""
    left = np.zeros((w.shape[0],) * 2)
    right = np.zeros((w.shape[1],) * 2)

    def root(a):
        s, v = np.linalg.eigh(a)
        s = np.maximum(s, 0.0)
        return (v * (s + eps * s.max()) ** -0.25) @ v.T

    for _ in range(steps):
        g = w - target
        left = b2 * left + (1 - b2) * g @ g.T
        right = b2 * right + (1 - b2) * g.T @ g
        w = w - lr * root(left) @ g @ root(right)
    return w


def test_exact_preconditioning_on_a_quadratic_matches_the_recursion():
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(5, 3))
    target = rng.normal(size=(5, 3))
    lr, b2, steps = 0.1, 0.9, 6
    # Damping 1e-3: float32 eigendecompositions of nearly singular statistics
    # would otherwise dominate the comparison.
    exact = {**EXACT, "matrix_eps": 1e-3}
    tx = tsx.chain(tsx.contrib.scale_by_shampoo(b2=b2, **exact), tsx.scale(-lr))
    params = {"w": jnp.asarray(w0, jnp.float32)}
    state = tx.init(params)
    step = jax.jit(
        lambda p, s: (lambda u, s: (tsx.apply_updates(p, u), s))(
            *tx.update({"w": p["w"] - jnp.asarray(target, jnp.float32)}, s)
        )
    )
    for _ in range(steps):
        params, state = step(params, state)
    want = _numpy_shampoo(w0, target, lr, b2, 1e-3, steps)
    np.testing.assert_allclose(np.asarray(params["w"]), want, rtol=1e-4, atol=1e-5)


def _run(tx, params, grads_seq):
    state = tx.init(params)
    update = jax.jit(tx.update)
    out = []
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        out.append(updates)
    return out


OPTIMIZERS = {
    "shampoo": lambda **kw: tsx.contrib.scale_by_shampoo(
        precondition_frequency=2, start_preconditioning_step=1, **kw
    ),
    "soap": lambda **kw: tsx.contrib.scale_by_soap(precondition_frequency=2, **kw),
    "kron": lambda **kw: tsx.contrib.scale_by_kron(seed=3, **kw),
    # Muon takes a tree of dimension numbers, as in Optax.
    "muon": lambda **kw: tsx.contrib.scale_by_muon(
        weight_dimension_numbers=None
        if "weight_dimension_numbers" not in kw
        else {"w": kw["weight_dimension_numbers"]}
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_stacked_leaf_equals_its_layers_as_separate_leaves(name):
    rng = np.random.default_rng(2)
    seq = [rng.normal(size=(3, 4, 5)).astype(np.float32) * 0.1 for _ in range(4)]
    dims = MuonDimensionNumbers(1, 2)
    stacked = _run(
        OPTIMIZERS[name](weight_dimension_numbers=dims),
        {"w": jnp.zeros((3, 4, 5))},
        [{"w": jnp.asarray(g)} for g in seq],
    )
    layers = _run(
        OPTIMIZERS[name](),
        {f"l{i}": jnp.zeros((4, 5)) for i in range(3)},
        [{f"l{i}": jnp.asarray(g[i]) for i in range(3)} for g in seq],
    )
    for a, b in zip(stacked, layers, strict=True):
        for i in range(3):
            np.testing.assert_allclose(
                np.asarray(a["w"][i]), np.asarray(b[f"l{i}"]), rtol=2e-5, atol=1e-6
            )


@pytest.mark.parametrize("name", ["shampoo", "soap", "kron"])
def test_blocks_equal_the_quadrants_as_separate_matrices(name):
    rng = np.random.default_rng(3)
    seq = [rng.normal(size=(8, 6)).astype(np.float32) * 0.1 for _ in range(4)]
    blocked = _run(
        OPTIMIZERS[name](block_size=4),
        {"w": jnp.zeros((8, 6))},
        [{"w": jnp.asarray(g)} for g in seq],
    )
    # Blocks in row-major order; the last column of blocks is zero-padded
    # from 2 to 4 columns, as are its quadrants here.
    cut = (
        lambda g: {  # noqa: E731
            "a": g[:4, :4],
            "b": np.pad(g[:4, 4:], ((0, 0), (0, 2))),
            "c": g[4:, :4],
            "d": np.pad(g[4:, 4:], ((0, 0), (0, 2))),
        }
    )
    quads = _run(
        OPTIMIZERS[name](block_size=4),
        {k: jnp.zeros((4, 4)) for k in "abcd"},
        [jax.tree.map(jnp.asarray, cut(g)) for g in seq],
    )
    for a, b in zip(blocked, quads, strict=True):
        whole = np.asarray(a["w"])
        parts = cut(whole)
        for k in "abcd":
            got = np.asarray(b[k])
            if k in "bd":
                got = got[:, :2]
                parts[k] = parts[k][:, :2]
            np.testing.assert_allclose(parts[k], got, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["shampoo", "soap", "kron"])
def test_train_state_skips_faults_and_accumulates_like_the_plain_optimizer(name):
    # Micro-batches (g_a, g_b) accumulated, a NaN step skipped, EMA and the
    # loss scale on: the params equal the optimizer run on (g_a + g_b) / 2
    # alone, and the EMA follows its recursion.
    from tsx.training import DynamicLossScale, TrainState

    make = {
        "shampoo": lambda: tsx.contrib.shampoo(1e-2, start_preconditioning_step=1),
        "soap": lambda: tsx.contrib.soap(1e-2),
        "kron": lambda: tsx.contrib.kron(1e-2),
    }[name]
    params = {"w": jnp.ones((6, 4)) * 0.1, "b": jnp.zeros(4)}
    state = TrainState.create(
        apply_fn=None,
        params=params,
        tx=make(),
        accumulate_steps=2,
        ema_decay=0.5,
        loss_scale=DynamicLossScale(1.0),
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    grads = [
        jax.tree.map(lambda p, i=i: jnp.cos(p * (i + 1)), params) for i in range(6)
    ]
    nan = jax.tree.map(lambda g: g * jnp.nan, grads[0])
    for g in grads[:2] + [nan, nan] + grads[2:]:
        state = step(state, g)
    tx, p, opt, ema = make(), params, None, params
    opt = tx.init(params)
    for a, b in zip(grads[0::2], grads[1::2], strict=True):
        mean = jax.tree.map(lambda x, y: (x + y) / 2, a, b)
        updates, opt = jax.jit(tx.update)(mean, opt, p)
        p = tsx.apply_updates(p, updates)
        ema = jax.tree.map(lambda e, q: 0.5 * e + 0.5 * q, ema, p)
    assert int(state.step) == 3 and int(state.skipped_steps) == 1
    for k in params:
        np.testing.assert_allclose(state.params[k], p[k], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(state.ema_params[k], ema[k], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["shampoo", "soap", "kron"])
def test_low_bit_statistics_stay_close_to_float32(name):
    make = {
        "shampoo": lambda: tsx.contrib.shampoo(1e-2, start_preconditioning_step=1),
        "soap": lambda: tsx.contrib.soap(1e-2),
        "kron": lambda: tsx.contrib.kron(1e-2),
    }[name]
    rng = np.random.default_rng(4)
    seq = [{"w": jnp.asarray(rng.normal(size=(32, 16)), jnp.float32)} for _ in range(6)]
    params = {"w": jnp.zeros((32, 16))}
    full = _run(make(), params, seq)[-1]["w"]
    for bits, tol in ((16, 0.02), (8, 0.1)):
        low = _run(tsx.quantized_state(make(), bits=bits, min_size=64), params, seq)
        err = np.linalg.norm(low[-1]["w"] - full) / np.linalg.norm(full)
        assert err < tol, (bits, err)


def test_bad_hyperparameters_name_the_argument():
    with pytest.raises(ValueError, match="graft_type"):
        tsx.contrib.shampoo(1e-3, graft_type="lion")
    with pytest.raises(ValueError, match="block_size"):
        tsx.contrib.soap(1e-3, block_size=0)
    with pytest.raises(ValueError, match="preconditioner_lr"):
        tsx.contrib.kron(1e-3, preconditioner_lr=-1.0)
