"""ACProp against Optax: numerics, state layout, validation."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.acprop(1e-2))


def test_non_defaults_and_schedule_match_optax():
    mask = lambda p: {k: k != "scale" for k in p}  # noqa: E731
    compare_with_optax(
        lambda lib: lib.contrib.acprop(
            lambda c: 0.05 * 0.9**c,
            b1=0.5,
            b2=0.9,
            eps=1e-6,
            eps_root=1e-8,
            weight_decay=0.1,
            mask=mask,
        ),
        steps=6,
    )


def test_scale_by_acprop_matches_optax_jitted():
    compare_with_optax(lambda lib: lib.contrib.scale_by_acprop(b1=0.8), jit=True)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-3, b1=1.0), "b1"),
        (dict(learning_rate=1e-3, b2=-0.5), "b2"),
        (dict(learning_rate=1e-3, eps=-1.0), "eps"),
        (dict(learning_rate=1e-3, eps_root=-1.0), "eps_root"),
        (dict(learning_rate=1e-3, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.acprop(**kwargs)
