"""Adagrad against Optax."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.helpers import (
    assert_default_nu_dtype_is_params,
    assert_nu_dtype_kept,
    schedule,
)
from tests.oracle import compare_with_optax


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"initial_accumulator_value": 0.0, "eps": 1e-4},
        {"initial_accumulator_value": 1.0, "eps": 0.0},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.adagrad(0.1, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.adagrad(schedule))


def test_building_block_matches_optax():
    compare_with_optax(lambda lib: lib.scale_by_rss(0.5, 1e-5))


def test_zero_accumulator_gives_zero_step():
    tx = tsx.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    params = {"w": jnp.zeros(3)}
    out, state = tx.update({"w": jnp.asarray([0.0, 2.0, -3.0])}, tx.init(params))
    np.testing.assert_allclose(out["w"], [0.0, 1.0, -1.0])
    np.testing.assert_allclose(state.sum_of_squares["w"], [0.0, 4.0, 9.0])


def test_nu_dtype():
    assert_nu_dtype_kept(tsx.adagrad(0.1, nu_dtype=jnp.float32), ["sum_of_squares"])
    assert_default_nu_dtype_is_params(tsx.adagrad(0.1), ["sum_of_squares"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": 0.1, "initial_accumulator_value": -0.1}, "initial_accum"),
        ({"learning_rate": 0.1, "eps": -1e-7}, "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.adagrad(**kwargs)
