"""MADGRAD against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.madgrad(1e-2), jit=True)


def test_non_defaults_and_schedule_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.madgrad(
            lambda c: 0.05 * 0.9**c, momentum=0.5, weight_decay=0.1, eps=1e-4
        ),
        steps=6,
        jit=True,
    )


def test_scale_by_madgrad_matches_optax():
    compare_with_optax(lambda lib: lib.contrib.scale_by_madgrad(0.1, momentum=0.0))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-2, momentum=1.0), "momentum"),
        (dict(learning_rate=1e-2, eps=-1.0), "eps"),
        (dict(learning_rate=1e-2, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.madgrad(**kwargs)
