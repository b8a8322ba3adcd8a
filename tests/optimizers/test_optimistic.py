"""Optimistic gradient descent and optimistic Adam against Optax."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.signatures import assert_signature_matches_optax
from tests.oracle import compare_with_optax, nested_params


def schedule(count):
    return 0.1 * 0.9**count


def test_ogd_defaults_match_optax():
    compare_with_optax(lambda lib: lib.optimistic_gradient_descent(1e-2))


def test_ogd_non_defaults_and_schedule_match_optax():
    compare_with_optax(
        lambda lib: lib.optimistic_gradient_descent(schedule, alpha=0.5, beta=2.0),
        jit=True,
    )


def test_ogd_update_by_hand():
    # u_t = (alpha + beta) g_t - beta g_{t-1}, with g_0 standing in for g_{-1}.
    tx = tsx.scale_by_optimistic_gradient(alpha=0.5, beta=2.0)
    p = jnp.zeros(2)
    state = tx.init(p)
    u1, state = tx.update(jnp.array([1.0, -2.0]), state, p)
    u2, _ = tx.update(jnp.array([3.0, 1.0]), state, p)
    np.testing.assert_allclose(u1, [0.5, -1.0])
    np.testing.assert_allclose(u2, 2.5 * np.array([3.0, 1.0]) - 2.0 * np.array([1, -2]))


# The optimistic difference r_t - r_{t-1} amplifies rounding in Adam's step;
# Optax's bias correction is a jitted function whose pow rounds differently
# from an eager one, so the Adam-based cases compare jitted updates.


def test_optimistic_adam_v2_defaults_match_optax():
    compare_with_optax(lambda lib: lib.optimistic_adam_v2(1e-2), jit=True)


def test_optimistic_adam_v2_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.optimistic_adam_v2(
            schedule, alpha=0.3, beta=0.7, b1=0.5, b2=0.9, eps=1e-4, nesterov=False
        ),
        jit=True,
    )


def test_optimistic_adam_matches_optax_and_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compare_with_optax(
            lambda lib: lib.optimistic_adam(1e-2, optimism=0.5), jit=True
        )
    with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
        tsx.optimistic_adam(1e-2)


def test_optimistic_adam_rejects_schedule():
    with (
        warnings.catch_warnings(),
        pytest.raises(TypeError, match="learning_rate"),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        tsx.optimistic_adam(schedule)


def test_nu_dtype():
    params = nested_params(dtype=jnp.bfloat16)
    state = tsx.optimistic_adam_v2(1e-2, nu_dtype=jnp.float32).init(params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state[0].nu))


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: tsx.optimistic_gradient_descent(-1.0), "learning_rate"),
        (lambda: tsx.optimistic_gradient_descent(0.1, alpha=-1.0), "alpha"),
        (lambda: tsx.optimistic_gradient_descent(0.1, beta=-1.0), "beta"),
        (lambda: tsx.optimistic_adam_v2(-0.1), "learning_rate"),
        (lambda: tsx.optimistic_adam_v2(0.1, b1=2.0), "b1"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


@pytest.mark.parametrize(
    "name,extra",
    [
        ("optimistic_gradient_descent", ()),
        ("optimistic_adam", ("nu_dtype",)),
        ("optimistic_adam_v2", ("nu_dtype",)),
        ("scale_by_optimistic_gradient", ()),
    ],
)
def test_signature_matches_optax(name, extra):
    assert_signature_matches_optax(name, extra)
