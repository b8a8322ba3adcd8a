"""AdaBelief against Optax."""

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
        {"b1": 0.5, "b2": 0.9, "eps": 1e-6, "eps_root": 1e-8},
        {"nesterov": True},
        {"nesterov": True, "b1": 0.7, "eps_root": 0.0, "eps": 1e-4},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.adabelief(1e-2, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.adabelief(schedule))


def test_building_block_and_state_match_optax():
    compare_with_optax(lambda lib: lib.scale_by_belief(b1=0.8, nesterov=True))


def test_nu_dtype():
    assert_nu_dtype_kept(
        tsx.adabelief(1e-2, nu_dtype=jnp.float32), ["nu"], other_fields=["mu"]
    )
    assert_default_nu_dtype_is_params(tsx.adabelief(1e-2), ["nu"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": 1.5}, "b1"),
        ({"learning_rate": 1e-3, "b2": 1.0}, "b2"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.adabelief(**kwargs)
