"""Polyak SGD and scale_by_polyak against Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def loss(params):
    return sum(jnp.sum(x**2) for x in jax.tree.leaves(params))


def value_arg(step, params):
    return {"value": loss(params)}


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.polyak_sgd(), extra_args=value_arg)


@pytest.mark.parametrize("variant", ["sps", "sps+"])
def test_non_defaults_match_optax(variant):
    # f_min above the loss makes the gap negative: sps+ clips it to zero.
    compare_with_optax(
        lambda lib: lib.polyak_sgd(
            max_learning_rate=0.05, scaling=0.5, f_min=30.0, eps=0.1, variant=variant
        ),
        extra_args=value_arg,
        jit=True,
    )


def test_schedule_scaling_matches_optax():
    compare_with_optax(
        lambda lib: lib.polyak_sgd(scaling=lambda count: 0.9**count),
        extra_args=value_arg,
    )


def test_step_by_hand():
    # f(x) = ||x||^2, f_min = 0: step = min(f / ||g||^2, max) = 1/4 at any x.
    tx = tsx.polyak_sgd(max_learning_rate=10.0)
    x = jnp.array([1.0, -2.0])
    g = 2 * x
    u, _ = tx.update(g, tx.init(x), x, value=jnp.sum(x**2))
    np.testing.assert_allclose(u, -0.25 * g)


def test_zero_gradient_gives_zero_step():
    tx = tsx.scale_by_polyak()
    u, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)), value=1.0)
    np.testing.assert_array_equal(u, jnp.zeros(3))


def test_state_layout_matches_optax():
    import optax

    from tests.oracle import state_layout

    params = nested_params()
    assert state_layout(tsx.polyak_sgd().init(params)) == state_layout(
        optax.polyak_sgd().init(params)
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(variant="sps-"), "variant"),
        (dict(max_learning_rate=-1.0), "max_learning_rate"),
        (dict(scaling=-1.0), "scaling"),
        (dict(eps=-1.0), "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.polyak_sgd(**kwargs)


@pytest.mark.parametrize("name,extra", [("polyak_sgd", ()), ("scale_by_polyak", ())])
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
