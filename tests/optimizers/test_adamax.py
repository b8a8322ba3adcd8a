"""Adamax and AdamaxW against Optax."""

import jax.numpy as jnp
import pytest

import tsx
from tests.optimizers.helpers import (
    assert_default_nu_dtype_is_params,
    assert_nu_dtype_kept,
    schedule,
)
from tests.oracle import compare_with_optax


@pytest.mark.parametrize("name", ["adamax", "adamaxw"])
@pytest.mark.parametrize(
    "kwargs", [{}, {"b1": 0.5, "b2": 0.8, "eps": 1e-3}], ids=["default", "custom"]
)
def test_matches_optax(name, kwargs):
    compare_with_optax(lambda lib: getattr(lib, name)(1e-2, **kwargs), steps=6)


def test_adamaxw_decay_and_mask_match_optax():
    compare_with_optax(
        lambda lib: lib.adamaxw(
            1e-2, weight_decay=0.3, mask=lambda p: {k: k != "dense" for k in p}
        )
    )


@pytest.mark.parametrize("name", ["adamax", "adamaxw"])
def test_schedule_learning_rate_matches_optax(name):
    compare_with_optax(lambda lib: getattr(lib, name)(schedule))


def test_state_is_adam_state():
    from tests.oracle import nested_params

    state = tsx.scale_by_adamax().init(nested_params())
    assert isinstance(state, tsx.ScaleByAdamState)


@pytest.mark.parametrize("name", ["adamax", "adamaxw"])
def test_nu_dtype(name):
    tx = getattr(tsx, name)(1e-2, nu_dtype=jnp.float32)
    assert_nu_dtype_kept(tx, ["nu"], other_fields=["mu"])
    assert_default_nu_dtype_is_params(getattr(tsx, name)(1e-2), ["nu"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": -0.1}, "b1"),
        ({"learning_rate": 1e-3, "b2": 1.0}, "b2"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.adamaxw(**kwargs)
