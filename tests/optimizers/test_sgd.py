"""SGD against Optax: momentum variants, schedules, dtypes, odd leaves."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, compare_with_optax, state_layout


def schedule(count):
    return 0.1 * 0.9**count


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.5, "nesterov": True},
        {"momentum": 0.0},
    ],
    ids=["plain", "momentum", "nesterov", "zero-momentum"],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.sgd(3e-2, **kwargs), steps=6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_schedule_learning_rate_matches_optax(nesterov):
    compare_with_optax(lambda lib: lib.sgd(schedule, momentum=0.8, nesterov=nesterov))


def test_accumulator_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.sgd(1e-2, momentum=0.9, accumulator_dtype=jnp.bfloat16),
        rtol=1e-2,
        atol=1e-2,
    )


def test_jitted_update_matches_optax():
    compare_with_optax(lambda lib: lib.sgd(1e-2, momentum=0.9), jit=True)


def _odd_tree():
    params = {
        "w": jnp.linspace(-1.0, 1.0, 4),
        "count": jnp.arange(4, dtype=jnp.int32),
        "frozen": None,
    }
    grads = {
        "w": jnp.asarray([0.5, -0.25, 2.0, 0.0]),
        "count": jnp.asarray([1, -2, 3, 7], dtype=jnp.int32),
        "frozen": None,
    }
    return params, grads


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("momentum", [None, 0.9])
def test_integer_and_none_leaves_behave_as_in_optax(name, momentum):
    # Optax keeps None leaves as None (in updates and state) and lets integer
    # leaves flow through the arithmetic: states and updates get promoted, and
    # apply_updates casts the sum back to the integer dtype.
    params, grads = _odd_tree()
    kwargs = {} if name == "adam" else {"momentum": momentum}
    if name == "adam" and momentum is not None:
        kwargs = {"b1": momentum}
    txs = [getattr(lib, name)(0.3, **kwargs) for lib in (tsx, optax)]
    states = [tx.init(params) for tx in txs]
    assert state_layout(states[0]) == state_layout(states[1])
    p = [params, params]
    for _ in range(3):
        outs = [
            tx.update(grads, s, pp) for tx, s, pp in zip(txs, states, p, strict=True)
        ]
        (u_a, states[0]), (u_b, states[1]) = outs
        assert u_a["frozen"] is None and u_b["frozen"] is None
        assert_trees_close(u_a, u_b)
        assert str(u_a["count"].dtype) == str(u_b["count"].dtype)
        p = [tsx.apply_updates(p[0], u_a), optax.apply_updates(p[1], u_b)]
        assert p[0]["frozen"] is None
        assert p[0]["count"].dtype == jnp.int32
        np.testing.assert_array_equal(p[0]["count"], p[1]["count"])
        assert state_layout(states[0]) == state_layout(states[1])
    assert_trees_close(states[0], states[1])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_float0_gradients_of_integer_params_fail_as_in_optax(name):
    import jax

    params = {"w": jnp.ones(3), "i": jnp.arange(3, dtype=jnp.int32)}
    grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2), allow_int=True)(params)
    for lib in (optax, tsx):
        tx = getattr(lib, name)(0.1)
        with pytest.raises(TypeError):
            tx.update(grads, tx.init(params), params)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": 0.1, "momentum": -0.5}, "momentum"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.sgd(**kwargs)


def test_schedule_and_array_hyperparameters_are_not_rejected():
    tsx.sgd(schedule, momentum=jnp.asarray(0.9))
    tsx.sgd(0.0, momentum=0.0)
