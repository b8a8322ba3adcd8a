"""ADOPT against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.adopt(1e-2), steps=6)


@pytest.mark.parametrize("nesterov,use_clipping", [(True, True), (False, False)])
def test_non_defaults_match_optax(nesterov, use_clipping):
    compare_with_optax(
        lambda lib: lib.contrib.adopt(
            lambda c: 0.1 * 0.9**c,
            b1=0.7,
            b2=0.95,
            eps=1e-4,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=lambda c: 0.5 + c**0.5,
        ),
        steps=6,
    )


def test_scale_by_adopt_matches_optax_jitted():
    compare_with_optax(lambda lib: lib.contrib.scale_by_adopt(), jit=True, steps=6)


def test_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.adopt(1e-2, mu_dtype=jnp.bfloat16),
        rtol=1e-2,
        atol=1e-2,
    )


def test_nu_dtype_keeps_second_moment_float32():
    params = nested_params(dtype=jnp.bfloat16)
    tx = tsx.contrib.adopt(1e-2, nu_dtype=jnp.float32)
    state = tx.init(params)
    _, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    assert {x.dtype for x in jax.tree.leaves(state[0].nu)} == {jnp.dtype("float32")}
    assert {x.dtype for x in jax.tree.leaves(state[0].mu)} == {jnp.dtype("bfloat16")}


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-3, b1=1.0), "b1"),
        (dict(learning_rate=1e-3, b2=-0.1), "b2"),
        (dict(learning_rate=1e-3, eps=-1e-6), "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.adopt(**kwargs)
