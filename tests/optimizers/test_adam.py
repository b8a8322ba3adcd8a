"""Adam family against Optax: numerics, state layout, validation."""

import jax.numpy as jnp
import pytest

from tests.oracle import compare_with_optax


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "nadamw"])
def test_defaults_match_optax(name):
    compare_with_optax(lambda lib: getattr(lib, name)(1e-2))


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "nadamw"])
def test_non_default_hyperparameters_match_optax(name):
    compare_with_optax(
        lambda lib: getattr(lib, name)(3e-2, b1=0.5, b2=0.9, eps=1e-3, eps_root=1e-6),
        steps=6,
    )


def test_adamw_mask_and_decay_match_optax():
    mask = lambda p: {k: (k != "scale") for k in p}  # noqa: E731
    compare_with_optax(lambda lib: lib.adamw(1e-2, weight_decay=0.3, mask=mask))


def test_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.adam(1e-2, mu_dtype=jnp.bfloat16), atol=1e-2, rtol=1e-2
    )


def test_nu_dtype_keeps_second_moment_float32_with_bf16_params():
    import tsx
    from tests.oracle import nested_params

    params = nested_params(dtype=jnp.bfloat16)
    state = tsx.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.float32).init(params)
    assert all(
        x.dtype == jnp.float32 for x in __import__("jax").tree.leaves(state[0].nu)
    )
    assert all(
        x.dtype == jnp.bfloat16 for x in __import__("jax").tree.leaves(state[0].mu)
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-3, b1=1.0), "b1"),
        (dict(learning_rate=1e-3, b2=-0.1), "b2"),
        (dict(learning_rate=1e-3, eps=-1e-8), "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    import tsx

    with pytest.raises(ValueError, match=arg):
        tsx.adam(**kwargs)
