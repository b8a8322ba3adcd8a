"""LAMB against Optax."""

import jax.numpy as jnp
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
        {"b1": 0.5, "b2": 0.9, "eps": 1e-4, "eps_root": 1e-8, "weight_decay": 0.1},
        {"weight_decay": 0.3, "mask": lambda p: {k: k != "scale" for k in p}},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.lamb(1e-2, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.lamb(schedule, weight_decay=0.01))


def test_nu_dtype():
    tx = tsx.lamb(1e-2, nu_dtype=jnp.float32)
    assert_nu_dtype_kept(tx, ["nu"], other_fields=["mu"])
    assert_default_nu_dtype_is_params(tsx.lamb(1e-2), ["nu"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": 1.0}, "b1"),
        ({"learning_rate": 1e-3, "b2": -0.1}, "b2"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.lamb(**kwargs)
