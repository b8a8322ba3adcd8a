"""Adadelta against Optax."""

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
        {"learning_rate": 0.5},
        {"learning_rate": 0.5, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.1},
        {
            "learning_rate": 1.0,
            "weight_decay": 0.2,
            "weight_decay_mask": lambda p: {k: k != "scale" for k in p},
        },
        {"learning_rate": schedule},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.adadelta(**kwargs), steps=6)


def test_building_block_matches_optax():
    compare_with_optax(lambda lib: lib.scale_by_adadelta(rho=0.7, eps=1e-4))


def test_nu_dtype():
    # adadelta's state is (decay_state, ScaleByAdaDeltaState, lr_state).
    tx = tsx.adadelta(1.0, nu_dtype=jnp.float32)
    assert_nu_dtype_kept(tx, ["e_g", "e_x"], index=1)
    assert_default_nu_dtype_is_params(tsx.adadelta(1.0), ["e_g", "e_x"], index=1)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"rho": 1.0}, "rho"),
        ({"rho": -0.1}, "rho"),
        ({"eps": -1e-6}, "eps"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.adadelta(**kwargs)
