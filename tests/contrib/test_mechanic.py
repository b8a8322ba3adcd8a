"""Mechanic (mechanize) against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.mechanize(lib.adam(1.0)), jit=True)


def test_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.mechanize(
            lib.adam(lambda c: 0.5 * 0.9**c),
            weight_decay=0.1,
            eps=1e-6,
            s_init=1e-3,
            num_betas=3,
        ),
        steps=6,
        jit=True,
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(eps=-1.0), "eps"),
        (dict(s_init=0.0), "s_init"),
        (dict(num_betas=0), "num_betas"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.mechanize(tsx.adam(1.0), **kwargs)
