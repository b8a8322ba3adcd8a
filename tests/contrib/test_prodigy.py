"""Prodigy against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.prodigy(), steps=6, jit=True)


@pytest.mark.parametrize("safeguard_warmup", [False, True])
def test_non_defaults_match_optax(safeguard_warmup):
    compare_with_optax(
        lambda lib: lib.contrib.prodigy(
            learning_rate=lambda c: 1.0 / (1.0 + 0.5 * c),
            betas=(0.8, 0.99),
            beta3=0.9,
            eps=1e-6,
            estim_lr0=1e-3,
            estim_lr_coef=0.5,
            weight_decay=0.1,
            safeguard_warmup=safeguard_warmup,
        ),
        steps=6,
        jit=True,
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(betas=(1.0, 0.9)), "betas"),
        (dict(beta3=1.5), "beta3"),
        (dict(eps=-1.0), "eps"),
        (dict(estim_lr0=0.0), "estim_lr0"),
        (dict(estim_lr_coef=-1.0), "estim_lr_coef"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.prodigy(**kwargs)
