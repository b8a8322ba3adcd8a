"""L-BFGS against Optax, and against the BFGS formulas by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.linesearch_helpers import compare_solvers
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def least_squares_problem():
    key_a, key_b = jax.random.split(jax.random.PRNGKey(3))
    a = jax.random.normal(key_a, (20, 6))
    b = jax.random.normal(key_b, (20,))
    return a, b


def test_rosenbrock_reaches_minimum_with_optax_iterates():
    out = compare_solvers(
        lambda lib: lib.lbfgs(), rosenbrock, jnp.array([-1.2, 1.0, -0.5, 0.8]), 60
    )
    final = out[-1][0]
    np.testing.assert_allclose(final, np.ones(4), atol=1e-4)
    assert rosenbrock(final) < 1e-8


def test_least_squares_reaches_solution_with_optax_iterates():
    a, b = least_squares_problem()

    def loss(x):
        return 0.5 * jnp.sum((a @ x - b) ** 2)

    out = compare_solvers(lambda lib: lib.lbfgs(), loss, jnp.zeros(6), 12)
    expected = np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]
    np.testing.assert_allclose(out[-1][0], expected, rtol=1e-4, atol=1e-5)


def test_tree_params_small_memory_match_optax():
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": {"c": jnp.eye(2)}}
    target = {"a": jnp.array([0.0, 1.0, 2.0]), "b": {"c": jnp.ones((2, 2))}}

    def loss(p):
        return sum(
            jnp.sum((x - t) ** 2 * (1.0 + 0.5 * i) + 0.1 * (x - t) ** 4)
            for i, (x, t) in enumerate(
                zip(jax.tree.leaves(p), jax.tree.leaves(target), strict=True)
            )
        )

    # Memory 2 < steps: the ring buffer wraps around.
    compare_solvers(
        lambda lib: lib.lbfgs(memory_size=2, scale_init_precond=False),
        loss,
        params,
        6,
        reuse=False,
    )


def test_backtracking_linesearch_matches_optax():
    compare_solvers(
        lambda lib: lib.lbfgs(
            linesearch=lib.scale_by_backtracking_linesearch(20, store_grad=True)
        ),
        rosenbrock,
        jnp.array([-1.2, 1.0, 0.3]),
        8,
    )


def test_complex_params_match_optax():
    def loss(z):
        target = jnp.array([1 + 2j, -0.5j])
        return jnp.sum(jnp.abs(z - target) ** 2 * jnp.array([1.0, 3.0]))

    compare_solvers(lambda lib: lib.lbfgs(), loss, jnp.array([0.5 - 1j, 2 + 0.3j]), 4)


def test_inject_hyperparams_matches_optax():
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[0.3, 0.1]])}
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.lbfgs, static_args=("memory_size",))(
            learning_rate=0.1, memory_size=3, linesearch=None
        ),
        params=params,
        jit=True,
    )


@pytest.mark.parametrize(
    "kwargs", [{"memory_size": 3}, {"memory_size": 4, "scale_init_precond": False}]
)
def test_scale_by_lbfgs_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.scale_by_lbfgs(**kwargs), steps=6, jit=True)


def test_fixed_learning_rate_and_schedule_match_optax():
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[0.3, 0.1]])}
    compare_with_optax(
        lambda lib: lib.lbfgs(0.1, linesearch=None), params=params, jit=True
    )
    compare_with_optax(
        lambda lib: lib.lbfgs(lambda count: 0.1 / (1 + count), linesearch=None),
        params=params,
        jit=True,
    )


def test_direction_by_hand_memory_one():
    # With m = 1 the direction is H g for H = V^T gamma I V + rho s s^T,
    # V = I - rho y s^T, rho = 1/<y, s>, gamma = <s, y>/<y, y>.
    tx = tsx.scale_by_lbfgs(memory_size=1)
    w0, g0 = jnp.array([1.0, 2.0, -1.0]), jnp.array([0.5, -1.0, 2.0])
    w1, g1 = jnp.array([0.2, 1.5, -0.4]), jnp.array([0.1, -0.3, 1.1])
    state = tx.init(w0)
    d0, state = tx.update(g0, state, w0)
    # First step: gamma_0 = min(1, 1/||g0||), no memory.
    np.testing.assert_allclose(d0, g0 * min(1.0, 1.0 / np.linalg.norm(g0)), rtol=1e-6)
    d1, _ = tx.update(g1, state, w1)
    s, y = np.asarray(w1 - w0), np.asarray(g1 - g0)
    rho = 1.0 / (y @ s)
    gamma = (s @ y) / (y @ y)
    v = np.eye(3) - rho * np.outer(y, s)
    h = gamma * v.T @ v + rho * np.outer(s, s)
    np.testing.assert_allclose(d1, h @ np.asarray(g1), rtol=1e-5)


def test_state_fields_and_memory_shapes():
    state = tsx.scale_by_lbfgs(memory_size=4).init(nested_params())
    assert isinstance(state, tsx.ScaleByLBFGSState)
    assert state.diff_params_memory["conv"]["kernel"].shape == (4, 2, 3, 3, 4)
    assert state.weights_memory.shape == (4,)


def test_default_linesearch_is_zoom():
    state = tsx.lbfgs().init(jnp.zeros(3))
    assert isinstance(state[2], tsx.ScaleByZoomLinesearchState)


def test_bad_memory_size_fails_at_construction():
    with pytest.raises(ValueError, match="memory_size"):
        tsx.lbfgs(memory_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        tsx.lbfgs(learning_rate=-1.0)


@pytest.mark.parametrize("name,extra", [("lbfgs", ()), ("scale_by_lbfgs", ())])
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
