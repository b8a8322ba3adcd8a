"""Zoom and backtracking line searches against Optax and the Wolfe conditions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.linesearch_helpers import compare_solvers, run_solver
from tests.optimizers.signatures import assert_signature_matches_optax


def quadratic(x):
    scales = jnp.arange(1.0, x.shape[0] + 1.0)
    return 0.5 * jnp.sum(scales * (x - 1.0) ** 2)


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def data_loss(x, a, b):
    return 0.5 * jnp.mean((a @ x - b) ** 2)


X0 = jnp.array([-1.2, 1.0, 0.4])


def sgd_then(linesearch):
    return lambda lib: lib.chain(lib.sgd(1.0), linesearch(lib))


# --- zoom ---------------------------------------------------------------------


def test_zoom_defaults_with_sgd_match_optax():
    compare_solvers(
        sgd_then(lambda lib: lib.scale_by_zoom_linesearch(15)), rosenbrock, X0, 6
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        # A cap below the first bracket: stops at the cap.
        dict(max_learning_rate=1e-3, initial_guess_strategy="one"),
        # Backtracking-like: no curvature test, Armijo only.
        dict(curv_rtol=jnp.inf, approx_dec_rtol=None, slope_rtol=0.3),
        dict(increase_factor=3.0, curv_rtol=0.1, tol=1e-6, stepsize_precision=1e-3),
    ],
)
def test_zoom_non_defaults_match_optax(kwargs):
    compare_solvers(
        sgd_then(lambda lib: lib.scale_by_zoom_linesearch(12, **kwargs)),
        rosenbrock,
        X0,
        5,
    )


def test_zoom_with_data_arguments_matches_optax():
    a = jax.random.normal(jax.random.PRNGKey(0), (8, 3))
    b = jnp.arange(8.0)
    compare_solvers(
        sgd_then(lambda lib: lib.scale_by_zoom_linesearch(10)),
        data_loss,
        X0,
        5,
        reuse=False,
        fn_kwargs={"a": a, "b": b},
    )


def test_zoom_failures_match_optax():
    # An ascent direction: no step decreases the objective; too few steps to
    # satisfy the tests on Rosenbrock: the safe (decrease-only) step is used.
    compare_solvers(
        sgd_then(lambda lib: lib.scale_by_zoom_linesearch(3)),
        rosenbrock,
        X0,
        4,
        direction=lambda g: jax.tree.map(jnp.negative, g),
    )
    compare_solvers(
        sgd_then(lambda lib: lib.scale_by_zoom_linesearch(2)), rosenbrock, X0, 4
    )


def test_zoom_step_satisfies_strong_wolfe_conditions():
    c1, c2 = 1e-4, 0.9
    out = run_solver(
        tsx,
        sgd_then(
            lambda lib: lib.scale_by_zoom_linesearch(
                30, slope_rtol=c1, curv_rtol=c2, approx_dec_rtol=None
            )
        ),
        rosenbrock,
        X0,
        1,
    )
    _, updates, state = out[0]
    ls = state[1]
    g0 = jax.grad(rosenbrock)(X0)
    direction = -g0
    eta = float(ls.learning_rate)
    np.testing.assert_allclose(updates, eta * direction, rtol=1e-6)
    slope0 = float(direction @ g0)
    new = X0 + eta * direction
    assert rosenbrock(new) <= rosenbrock(X0) + c1 * eta * slope0
    assert abs(float(jax.grad(rosenbrock)(new) @ direction)) <= c2 * abs(slope0)
    np.testing.assert_allclose(ls.value, rosenbrock(new), rtol=1e-6)
    np.testing.assert_allclose(ls.grad, jax.grad(rosenbrock)(new), rtol=1e-5)
    assert float(ls.info.decrease_error) == 0.0
    assert float(ls.info.curvature_error) == 0.0


# --- backtracking -------------------------------------------------------------


@pytest.mark.parametrize("store_grad", [False, True])
def test_backtracking_defaults_match_optax(store_grad):
    compare_solvers(
        sgd_then(
            lambda lib: lib.scale_by_backtracking_linesearch(15, store_grad=store_grad)
        ),
        rosenbrock,
        X0,
        6,
        reuse=store_grad,
    )


def test_backtracking_non_defaults_with_data_match_optax():
    a = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
    b = jnp.arange(8.0)
    compare_solvers(
        sgd_then(
            lambda lib: lib.scale_by_backtracking_linesearch(
                20,
                slope_rtol=0.3,
                decrease_factor=0.5,
                increase_factor=3.0,
                max_learning_rate=2.0,
                atol=1e-4,
                rtol=1e-3,
                store_grad=True,
            )
        ),
        data_loss,
        X0,
        5,
        reuse=False,
        fn_kwargs={"a": a, "b": b},
    )


def test_backtracking_step_satisfies_armijo_by_hand():
    out = run_solver(
        tsx,
        sgd_then(lambda lib: lib.scale_by_backtracking_linesearch(30)),
        quadratic,
        jnp.zeros(4),
        1,
        reuse=False,
    )
    _, updates, state = out[0]
    g0 = jax.grad(quadratic)(jnp.zeros(4))
    eta = float(state[1].learning_rate)
    # The first trial is min(1.5 * 1, 1) = 1, then 0.8**k until Armijo holds.
    k = round(np.log(eta) / np.log(0.8))
    np.testing.assert_allclose(eta, 0.8**k, rtol=1e-6)
    armijo = lambda t: quadratic(-t * g0) <= quadratic(0 * g0) - 1e-4 * t * g0 @ g0  # noqa: E731
    assert armijo(eta) and not armijo(eta / 0.8)
    np.testing.assert_allclose(updates, -eta * g0, rtol=1e-6)


def test_backtracking_outside_domain_takes_no_step():
    # Any move makes the objective NaN: the step is 0, matching Optax.
    def fn(x):
        return jnp.where(jnp.all(x == 0.0), 1.0, jnp.nan) + jnp.sum(x)

    for lib_out in compare_solvers(
        sgd_then(lambda lib: lib.scale_by_backtracking_linesearch(5)),
        fn,
        jnp.zeros(2),
        2,
        reuse=False,
    ):
        np.testing.assert_array_equal(lib_out[1], jnp.zeros(2))


# --- shared -------------------------------------------------------------------


def test_value_and_grad_from_state_first_step_and_reuse():
    solver = tsx.chain(tsx.sgd(1.0), tsx.scale_by_zoom_linesearch(10))
    state = solver.init(X0)
    vag = tsx.value_and_grad_from_state(rosenbrock)
    value, grad = vag(X0, state=state)  # stored value is inf: computed
    np.testing.assert_allclose(value, rosenbrock(X0), rtol=1e-6)
    updates, state = solver.update(
        grad, state, X0, value=value, grad=grad, value_fn=rosenbrock
    )
    new = tsx.apply_updates(X0, updates)
    value2, grad2 = vag(jnp.zeros(3), state=state)  # params ignored: stored
    np.testing.assert_allclose(value2, rosenbrock(new), rtol=1e-6)
    np.testing.assert_allclose(grad2, jax.grad(rosenbrock)(new), rtol=1e-5)


def test_value_and_grad_from_state_errors():
    vag = tsx.value_and_grad_from_state(rosenbrock)
    no_grad = tsx.chain(tsx.sgd(1.0), tsx.scale_by_backtracking_linesearch(5))
    with pytest.raises(ValueError, match="gradient"):
        vag(X0, state=no_grad.init(X0))
    two = tsx.chain(tsx.scale_by_zoom_linesearch(5), tsx.scale_by_zoom_linesearch(5))
    with pytest.raises(KeyError, match="value"):
        vag(X0, state=two.init(X0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: tsx.scale_by_zoom_linesearch(5),
        lambda: tsx.scale_by_backtracking_linesearch(5),
    ],
)
def test_unused_keyword_is_a_type_error_naming_it(make):
    tx = make()
    state = tx.init(X0)
    with pytest.raises(TypeError, match="batchsize"):
        tx.update(X0, state, X0, value=1.0, grad=X0, value_fn=rosenbrock, batchsize=3)


ZOOM = tsx.scale_by_zoom_linesearch
BACKTRACKING = tsx.scale_by_backtracking_linesearch


@pytest.mark.parametrize(
    "make,kwargs,arg",
    [
        (ZOOM, dict(max_linesearch_steps=0), "max_linesearch_steps"),
        (ZOOM, dict(max_learning_rate=-1.0), "max_learning_rate"),
        (ZOOM, dict(curv_rtol=-0.5), "curv_rtol"),
        (ZOOM, dict(initial_guess_strategy="two"), "initial_guess_strategy"),
        (BACKTRACKING, dict(decrease_factor=1.5), "decrease_factor"),
        (BACKTRACKING, dict(slope_rtol=-1.0), "slope_rtol"),
        (BACKTRACKING, dict(atol=-1.0), "atol"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(make, kwargs, arg):
    kwargs = {"max_linesearch_steps": 5, **kwargs} if make is ZOOM else kwargs
    args = () if make is ZOOM else (5,)
    with pytest.raises(ValueError, match=arg):
        make(*args, **kwargs)


@pytest.mark.parametrize(
    "name,extra",
    [
        ("scale_by_zoom_linesearch", ()),
        ("scale_by_backtracking_linesearch", ()),
        ("value_and_grad_from_state", ()),
    ],
)
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
