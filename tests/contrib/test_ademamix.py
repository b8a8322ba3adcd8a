"""AdEMAMix and Simplified AdEMAMix against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params, state_layout


def test_ademamix_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.ademamix(1e-2))


def test_ademamix_non_defaults_and_schedules_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.ademamix(
            lambda c: 0.05 * 0.9**c,
            b1=0.8,
            b2=0.95,
            b3=lambda c: 0.99 - 0.01 * c,
            alpha=lambda c: 1.0 + c,
            eps=1e-4,
            eps_root=1e-6,
            weight_decay=0.05,
        ),
        steps=6,
    )


def test_scale_by_ademamix_matches_optax_jitted():
    compare_with_optax(lambda lib: lib.contrib.scale_by_ademamix(alpha=2.0), jit=True)


def test_ademamix_mu_dtype_layout_matches_optax_at_init():
    import optax

    params = nested_params()
    a = tsx.contrib.ademamix(1e-2, mu_dtype=jnp.bfloat16).init(params)
    b = optax.contrib.ademamix(1e-2, mu_dtype=jnp.bfloat16).init(params)
    assert state_layout(a) == state_layout(b)


def test_ademamix_nu_dtype_keeps_second_moment_float32():
    params = nested_params(dtype=jnp.bfloat16)
    tx = tsx.contrib.ademamix(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.float32)
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    _, state = tx.update(grads, state, params)
    assert {x.dtype for x in jax.tree.leaves(state[0].nu)} == {jnp.dtype("float32")}
    assert {x.dtype for x in jax.tree.leaves(state[0].m1)} == {jnp.dtype("bfloat16")}
    assert {x.dtype for x in jax.tree.leaves(state[0].m2)} == {jnp.dtype("bfloat16")}


def test_simplified_ademamix_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.simplified_ademamix(1e-2))


def test_simplified_ademamix_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.simplified_ademamix(
            lambda c: 0.02 * 0.9**c,
            b1=0.9,
            b2=0.99,
            alpha=lambda c: 0.5 + c,
            eps=1e-3,
            eps_root=1e-7,
            weight_decay=0.1,
        ),
        steps=6,
    )


def test_scale_by_simplified_ademamix_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.scale_by_simplified_ademamix(alpha=3.0), jit=True
    )


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        ("ademamix", dict(learning_rate=-1.0), "learning_rate"),
        ("ademamix", dict(learning_rate=1e-3, b1=1.5), "b1"),
        ("ademamix", dict(learning_rate=1e-3, b2=1.0), "b2"),
        ("ademamix", dict(learning_rate=1e-3, b3=-0.1), "b3"),
        ("ademamix", dict(learning_rate=1e-3, alpha=-1.0), "alpha"),
        ("ademamix", dict(learning_rate=1e-3, eps=-1.0), "eps"),
        ("ademamix", dict(learning_rate=1e-3, weight_decay=-1.0), "weight_decay"),
        ("simplified_ademamix", dict(learning_rate=-1.0), "learning_rate"),
        ("simplified_ademamix", dict(learning_rate=1e-3, b1=1.0), "b1"),
        ("simplified_ademamix", dict(learning_rate=1e-3, b2=2.0), "b2"),
        ("simplified_ademamix", dict(learning_rate=1e-3, eps_root=-1.0), "eps_root"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        getattr(tsx.contrib, fn)(**kwargs)
