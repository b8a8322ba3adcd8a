"""LARS against Optax."""

import pytest

import tsx
from tests.optimizers.helpers import schedule
from tests.oracle import compare_with_optax


def no_scale(p):
    return {k: k != "scale" for k in p}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"weight_decay": 0.1, "trust_coefficient": 0.02, "eps": 1e-3},
        {"momentum": 0.5, "nesterov": True},
        {"momentum": 0.0},
        {"weight_decay": 0.2, "weight_decay_mask": no_scale},
        {"trust_ratio_mask": no_scale, "trust_coefficient": 0.1},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.lars(0.1, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.lars(schedule, weight_decay=0.01))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
        ({"learning_rate": 1e-3, "trust_coefficient": -1.0}, "trust_coefficient"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "momentum": -0.9}, "momentum"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.lars(**kwargs)
