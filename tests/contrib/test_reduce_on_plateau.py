"""reduce_on_plateau against Optax (losses passed as value=)."""

import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax

# A loss that improves, then plateaus (with noise below rtol), then improves.
LOSSES = [5.0, 4.0, 3.0, 3.0, 3.0, 2.9999, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def _value(step, params):
    del params
    return {"value": jnp.asarray(LOSSES[step], jnp.float32)}


def test_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.reduce_on_plateau(),
        extra_args=_value,
        steps=6,
        jit=True,
    )


def test_reductions_and_cooldown_match_optax():
    state, _ = compare_with_optax(
        lambda lib: lib.contrib.reduce_on_plateau(
            factor=0.5, patience=2, rtol=1e-3, atol=0.0, cooldown=1, min_scale=0.2
        ),
        extra_args=_value,
        steps=len(LOSSES),
        jit=True,
    )
    assert float(state.scale) < 1.0  # it did reduce


def test_accumulation_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.reduce_on_plateau(
            factor=0.3, patience=1, rtol=0.0, atol=0.5, accumulation_size=3
        ),
        extra_args=_value,
        steps=12,
        jit=True,
    )


def test_chained_after_an_optimizer_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(
            lib.adam(0.1), lib.contrib.reduce_on_plateau(factor=0.5, patience=1)
        ),
        extra_args=_value,
        steps=8,
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(factor=1.0), "factor"),
        (dict(factor=0.0), "factor"),
        (dict(rtol=-1.0), "rtol"),
        (dict(rtol=2.0), "rtol"),
        (dict(atol=-1.0), "atol"),
        (dict(rtol=0.0, atol=0.0), "rtol"),
        (dict(patience=-1), "patience"),
        (dict(cooldown=-1), "cooldown"),
        (dict(accumulation_size=0), "accumulation_size"),
        (dict(min_scale=-1.0), "min_scale"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.reduce_on_plateau(**kwargs)
