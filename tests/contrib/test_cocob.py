"""COCOB against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.cocob())


def test_non_defaults_match_optax():
    mask = lambda p: {k: k != "conv" for k in p}  # noqa: E731
    compare_with_optax(
        lambda lib: lib.contrib.cocob(
            learning_rate=lambda c: 1.0 / (1.0 + c),
            alpha=10.0,
            eps=1e-3,
            weight_decay=0.1,
            mask=mask,
        ),
        steps=6,
    )


def test_scale_by_cocob_matches_optax_jitted():
    compare_with_optax(lambda lib: lib.contrib.scale_by_cocob(alpha=5.0), jit=True)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(alpha=0.0), "alpha"),
        (dict(eps=-1.0), "eps"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.cocob(**kwargs)
