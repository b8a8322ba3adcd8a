"""Matrix functions of tsx.matrix against float64 numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsx.matrix import (
    eigenbasis,
    inverse_root,
    orthonormalize,
    qr_eigenbasis,
    spectral_norm_lower_bound,
)


def _spd(n, seed=0, spread=100.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    w = np.geomspace(1.0, spread, n)
    return (q * w) @ q.T, w, q


@pytest.mark.parametrize("p", [2, 4])
def test_inverse_root_matches_numpy_in_float64(p):
    a, _, _ = _spd(8)
    eps = 1e-6
    w, v = np.linalg.eigh(a)
    want = (v * (w + eps * w.max()) ** (-1.0 / p)) @ v.T
    got = np.asarray(jax.jit(inverse_root, static_argnums=(1, 2))(a, p, eps))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


def test_inverse_root_of_zero_is_damped_identity():
    got = inverse_root(jnp.zeros((3, 3)), 4, 1e-4)
    np.testing.assert_allclose(got, np.eye(3) * (1e-4) ** -0.25, rtol=1e-5)


def test_eigenbasis_is_numpys_largest_first():
    a, w, _ = _spd(6, seed=1)
    q = np.asarray(eigenbasis(a), np.float64)
    # Columns are eigenvectors, eigenvalues in decreasing order.
    rayleigh = np.diag(q.T @ a @ q)
    np.testing.assert_allclose(rayleigh, np.sort(w)[::-1], rtol=1e-4)
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-5)


def test_qr_power_iteration_converges_to_the_eigenbasis():
    a, w, _ = _spd(5, seed=2, spread=10.0)
    q = jnp.eye(5)
    step = jax.jit(qr_eigenbasis)
    for _ in range(200):
        q, _ = step(jnp.asarray(a, jnp.float32), q)
    q = np.asarray(q, np.float64)
    off = q.T @ a @ q - np.diag(np.diag(q.T @ a @ q))
    assert np.abs(off).max() < 1e-3 * w.max()
    np.testing.assert_allclose(np.diag(q.T @ a @ q), np.sort(w)[::-1], rtol=1e-3)


def test_qr_eigenbasis_orders_columns_by_estimated_eigenvalue():
    a = np.diag([1.0, 5.0, 3.0]).astype(np.float32)
    q, order = qr_eigenbasis(jnp.asarray(a), jnp.eye(3))
    np.testing.assert_array_equal(np.asarray(order), [1, 2, 0])
    np.testing.assert_allclose(np.abs(np.asarray(q)), np.eye(3)[:, [1, 2, 0]])


def test_spectral_norm_lower_bound_is_a_lower_bound_and_exact_for_rank_one():
    a, _, _ = _spd(7, seed=3)
    bound = float(spectral_norm_lower_bound(jnp.asarray(a, jnp.float32)))
    true = np.linalg.norm(a, 2)
    assert 0.3 * true <= bound <= true * (1 + 1e-5)
    u = np.random.default_rng(4).normal(size=(7, 1))
    rank_one = (u @ u.T).astype(np.float32)
    np.testing.assert_allclose(
        float(spectral_norm_lower_bound(jnp.asarray(rank_one))),
        np.linalg.norm(rank_one, 2),
        rtol=1e-5,
    )
    assert float(spectral_norm_lower_bound(jnp.zeros((3, 3)))) == 0.0


def _with_singular_values(s, rows, seed=0):
    rng = np.random.default_rng(seed)
    w, _ = np.linalg.qr(rng.normal(size=(rows, len(s))))
    z, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    return (w * s) @ z.T, w, z


def test_orthonormalize_moves_each_singular_value_by_the_bjorck_map():
    s = np.array([0.6, 0.9, 1.0, 1.2, 1.5])
    v, w, z = _with_singular_values(s, 7)
    got = np.asarray(orthonormalize(jnp.asarray(v, jnp.float32), 1), np.float64)
    np.testing.assert_allclose(got, (w * (s * (3 - s**2) / 2)) @ z.T, atol=2e-6)


@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9)])
def test_orthonormalize_reaches_the_polar_factor(shape):
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(max(shape), min(shape))))
    v = q if shape[0] >= shape[1] else q.T
    v = v + 0.03 * rng.normal(size=shape)  # singular values within about 0.1 of 1
    u, _, zt = np.linalg.svd(v, full_matrices=False)
    got = np.asarray(orthonormalize(jnp.asarray(v, jnp.float32)), np.float64)
    np.testing.assert_allclose(got, u @ zt, atol=1e-5)
    small = min(shape)
    gram = got.T @ got if shape[0] >= shape[1] else got @ got.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_orthonormalize_maps_a_stack_matrix_by_matrix():
    rng = np.random.default_rng(2)
    stack = np.eye(5) + 0.05 * rng.normal(size=(3, 5, 5))
    got = np.asarray(orthonormalize(jnp.asarray(stack, jnp.float32)), np.float64)
    for k in range(3):
        u, _, vt = np.linalg.svd(stack[k])
        np.testing.assert_allclose(got[k], u @ vt, atol=1e-5)
