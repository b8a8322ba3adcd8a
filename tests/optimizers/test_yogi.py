"""Yogi and scale_by_yogi against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def schedule(count):
    return 0.1 * 0.9**count


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.yogi(1e-2), steps=6)


def test_non_defaults_match_optax():
    compare_with_optax(lambda lib: lib.yogi(3e-2, b1=0.5, b2=0.9, eps=1e-4), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.yogi(schedule), jit=True)


def test_building_block_matches_optax():
    compare_with_optax(
        lambda lib: lib.scale_by_yogi(
            b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-6, initial_accumulator_value=0.5
        )
    )


def test_state_is_adam_state_starting_at_initial_value():
    state = tsx.scale_by_yogi(initial_accumulator_value=0.25).init(nested_params())
    assert isinstance(state, tsx.ScaleByAdamState)
    for leaf in jax.tree.leaves((state.mu, state.nu)):
        assert jnp.all(leaf == 0.25)


def test_nu_dtype_keeps_second_moment_float32_with_bf16_params():
    params = nested_params(dtype=jnp.bfloat16)
    tx = tsx.yogi(1e-2, nu_dtype=jnp.float32)
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    _, state = jax.jit(tx.update)(grads, state, params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state[0].nu))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state[0].mu))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-3, b1=1.5), "b1"),
        (dict(learning_rate=1e-3, b2=-0.1), "b2"),
        (dict(learning_rate=1e-3, eps=-1e-3), "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.yogi(**kwargs)


def test_bad_initial_accumulator_fails():
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        tsx.scale_by_yogi(initial_accumulator_value=-1.0)


@pytest.mark.parametrize(
    "name,extra",
    [("yogi", ("mu_dtype", "nu_dtype")), ("scale_by_yogi", ("mu_dtype", "nu_dtype"))],
)
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
