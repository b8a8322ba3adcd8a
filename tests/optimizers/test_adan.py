"""Adan against Optax."""

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
        {"b1": 0.9, "b2": 0.8, "b3": 0.95, "eps": 1e-4, "eps_root": 0.0},
        {"weight_decay": 0.1},
        {"weight_decay": 0.1, "mask": lambda p: {k: k == "conv" for k in p}},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.adan(1e-2, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.adan(schedule, weight_decay=0.01))


def test_building_block_and_state_match_optax():
    compare_with_optax(lambda lib: lib.scale_by_adan(eps_root=1e-6))


def test_nu_dtype():
    tx = tsx.adan(1e-2, nu_dtype=jnp.float32)
    assert_nu_dtype_kept(tx, ["n"], other_fields=["m", "v", "g"])
    assert_default_nu_dtype_is_params(tsx.adan(1e-2), ["n"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": 1.0}, "b1"),
        ({"learning_rate": 1e-3, "b2": -0.1}, "b2"),
        ({"learning_rate": 1e-3, "b3": 1.2}, "b3"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.adan(**kwargs)
