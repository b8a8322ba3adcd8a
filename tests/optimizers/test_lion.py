"""Lion against Optax."""

import jax.numpy as jnp
import pytest

import tsx
from tests.optimizers.helpers import schedule
from tests.oracle import compare_with_optax


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"b1": 0.5, "b2": 0.9, "weight_decay": 0.1},
        {"weight_decay": 0.0},
        {"weight_decay": 0.2, "mask": lambda p: {k: k != "scale" for k in p}},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.lion(1e-2, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.lion(schedule, weight_decay=0.05))


def test_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.lion(1e-2, mu_dtype=jnp.bfloat16), rtol=1e-2, atol=1e-2
    )


@pytest.mark.parametrize("mode", ["hard", "smooth", "refined"])
def test_modes_match_optax(mode):
    compare_with_optax(
        lambda lib: lib.scale_by_lion(b1=0.8, mode=mode, smooth_beta=3.0)
    )


def test_state_fields():
    from tests.oracle import nested_params

    state = tsx.scale_by_lion().init(nested_params())
    assert isinstance(state, tsx.ScaleByLionState)
    assert state._fields == ("count", "mu")


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": 1.0}, "b1"),
        ({"learning_rate": 1e-3, "b2": -0.5}, "b2"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.lion(**kwargs)


def test_unknown_mode_fails_at_construction():
    with pytest.raises(ValueError, match="mode="):
        tsx.scale_by_lion(mode="soft")
