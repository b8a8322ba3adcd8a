"""D-Adaptation AdamW against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.dadapt_adamw(), steps=6)


def test_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.dadapt_adamw(
            learning_rate=lambda c: 1.0 / (1.0 + 0.5 * c),
            betas=(0.8, 0.99),
            eps=1e-6,
            estim_lr0=1e-3,
            weight_decay=0.1,
        ),
        steps=6,
        jit=True,
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(betas=(1.0, 0.9)), "betas"),
        (dict(betas=(0.9, -0.1)), "betas"),
        (dict(eps=-1.0), "eps"),
        (dict(estim_lr0=0.0), "estim_lr0"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.dadapt_adamw(**kwargs)
