"""NovoGrad against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.optimizers.helpers import (
    assert_default_nu_dtype_is_params,
    assert_nu_dtype_kept,
    schedule,
)
from tests.oracle import compare_with_optax, nested_params


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"b1": 0.5, "b2": 0.6, "eps": 1e-3, "eps_root": 1e-8},
        {"weight_decay": 0.1},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.novograd(1e-2, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.novograd(schedule))


def test_building_block_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.scale_by_novograd(mu_dtype=jnp.bfloat16, weight_decay=0.1),
        rtol=1e-2,
        atol=1e-2,
    )


def test_jitted_matches_optax():
    compare_with_optax(lambda lib: lib.novograd(1e-2, weight_decay=0.01), jit=True)


def test_nu_is_one_scalar_per_leaf():
    state = tsx.scale_by_novograd().init(nested_params())
    assert all(x.shape == () for x in jax.tree.leaves(state.nu))


def test_nu_dtype():
    tx = tsx.novograd(1e-2, nu_dtype=jnp.float32)
    assert_nu_dtype_kept(tx, ["nu"], other_fields=["mu"], steps=3)
    assert_default_nu_dtype_is_params(tsx.novograd(1e-2), ["nu"])


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "b1": 1.0}, "b1"),
        ({"learning_rate": 1e-3, "b2": -0.1}, "b2"),
        ({"learning_rate": 1e-3, "eps": -1.0}, "eps"),
        ({"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root"),
        ({"learning_rate": 1e-3, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.novograd(**kwargs)
