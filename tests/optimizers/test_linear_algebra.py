"""tsx.linear_algebra against Optax and against dense linear algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import assert_trees_close


def spd_matrix(n, seed=0):
    a = jax.random.normal(jax.random.PRNGKey(seed), (n, n))
    return a @ a.T / n + 0.1 * jnp.eye(n)


def test_power_iteration_array_matches_optax_and_eigh():
    m = spd_matrix(6)
    ev, vec = tsx.power_iteration(m)
    ev_ref, vec_ref = optax.power_iteration(m)
    np.testing.assert_allclose(ev, ev_ref, rtol=1e-6)
    np.testing.assert_allclose(vec, vec_ref, rtol=1e-5, atol=1e-6)
    w, v = np.linalg.eigh(np.asarray(m, np.float64))
    np.testing.assert_allclose(ev, w[-1], rtol=1e-4)
    np.testing.assert_allclose(abs(float(vec @ v[:, -1])), 1.0, rtol=1e-4)


def test_power_iteration_operator_on_a_tree_matches_optax():
    m1, m2 = spd_matrix(3, 1), 2.0 * spd_matrix(2, 2)

    def mvp(tree):
        return {"a": m1 @ tree["a"], "b": m2 @ tree["b"]}

    v0 = {"a": jnp.ones(3), "b": jnp.array([1.0, -0.5])}
    kwargs = dict(v0=v0, num_iters=50, error_tolerance=1e-5)
    ours = tsx.power_iteration(mvp, **kwargs)
    ref = optax.power_iteration(mvp, **kwargs)
    assert_trees_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_power_iteration_needs_v0_for_an_operator():
    with pytest.raises(ValueError, match="v0"):
        tsx.power_iteration(lambda v: v)


def test_power_iteration_key_and_few_iterations_match_optax():
    m = spd_matrix(5, 3)
    kwargs = dict(num_iters=3, key=jax.random.PRNGKey(7))
    assert_trees_close(
        tsx.power_iteration(m, **kwargs), optax.power_iteration(m, **kwargs)
    )


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_matrix_inverse_pth_root_matches_optax(p):
    m = spd_matrix(5, p)
    ours, err = tsx.matrix_inverse_pth_root(m, p)
    ref, ref_err = optax.matrix_inverse_pth_root(m, p)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(err, ref_err, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("p", [2, 3])
def test_matrix_inverse_pth_root_by_eigendecomposition(p):
    # p = 3 is exact in tsx (Optax 0.2.8 rounds a concrete p to a power of 2).
    m = spd_matrix(4, 9)
    ours, _ = tsx.matrix_inverse_pth_root(m, p, ridge_epsilon=0.0)
    w, v = np.linalg.eigh(np.asarray(m, np.float64))
    expected = (v * w ** (-1.0 / p)) @ v.T
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4)


def test_matrix_inverse_pth_root_scalar_and_traced_p():
    m = jnp.array([[4.0]])
    ours, err = tsx.matrix_inverse_pth_root(m, 2, ridge_epsilon=0.0)
    np.testing.assert_allclose(ours, [[0.5]], rtol=1e-6)
    assert err == 0
    big = spd_matrix(4, 4)
    traced = jax.jit(lambda p: tsx.matrix_inverse_pth_root(big, p)[0])(4)
    np.testing.assert_allclose(
        traced, optax.matrix_inverse_pth_root(big, 4)[0], rtol=1e-5, atol=1e-6
    )


def test_matrix_inverse_pth_root_bad_p():
    with pytest.raises(ValueError, match="p"):
        tsx.matrix_inverse_pth_root(spd_matrix(2), 0)


@pytest.mark.parametrize("b_shape", [(7,), (7, 3)])
def test_nnls_matches_optax_and_kkt(b_shape):
    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(key_a, (7, 4))
    b = jax.random.normal(key_b, b_shape)
    x = tsx.nnls(a, b, 500)
    np.testing.assert_allclose(x, optax.nnls(a, b, 500), rtol=1e-5, atol=1e-6)
    # KKT: x >= 0, gradient A^T(Ax - b) >= 0, complementary slackness.
    grad = np.asarray(a.T @ (a @ x - b))
    assert np.all(np.asarray(x) >= 0)
    assert np.all(grad >= -1e-4)
    np.testing.assert_allclose(np.asarray(x) * grad, 0.0, atol=1e-4)


def test_nnls_given_lipschitz_and_unroll_match_optax():
    a = jnp.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])
    b = jnp.array([5.0, 6.0, 1.0])
    kwargs = dict(iters=50, unroll=5, L=40.0)
    np.testing.assert_allclose(
        tsx.nnls(a, b, **kwargs), optax.nnls(a, b, **kwargs), rtol=1e-5, atol=1e-6
    )


def test_nnls_shape_errors():
    with pytest.raises(ValueError, match="b.shape"):
        tsx.nnls(jnp.ones((3, 2)), jnp.ones(4), 10)
    with pytest.raises(ValueError, match="A.shape"):
        tsx.nnls(jnp.ones(3), jnp.ones(3), 10)


def test_multi_normal_matches_optax():
    loc = jnp.array([[0.0, 1.0, -2.0]])
    log_scale = jnp.array([0.1, -0.3, 0.5])
    ours, ref = tsx.multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
    key = jax.random.PRNGKey(4)
    np.testing.assert_allclose(ours.sample((2,), key), ref.sample((2,), key))
    x = jnp.array([[0.5, 0.5, 0.5]])
    np.testing.assert_allclose(ours.log_prob(x), ref.log_prob(x), rtol=1e-6)
    # By hand: sum of independent normal log densities.
    s = np.exp(np.asarray(log_scale))
    expected = np.sum(
        -0.5 * ((0.5 - np.asarray(loc)) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
    )
    np.testing.assert_allclose(ours.log_prob(x), [expected], rtol=1e-5)
    assert_trees_close(ours.params, ref.params)
    np.testing.assert_array_equal(ours.log_scale, log_scale)


def test_global_norm_is_deprecated_and_correct():
    tree = {"a": jnp.array([3.0]), "b": jnp.array([[4.0]])}
    with pytest.warns(DeprecationWarning):
        np.testing.assert_allclose(tsx.global_norm(tree), 5.0)


@pytest.mark.parametrize(
    "name,extra",
    [
        ("power_iteration", ()),
        ("matrix_inverse_pth_root", ()),
        ("nnls", ()),
        ("multi_normal", ()),
        ("global_norm", ()),
    ],
)
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
