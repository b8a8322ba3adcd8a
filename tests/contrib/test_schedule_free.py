"""Schedule-Free optimizers against Optax."""

import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, compare_with_optax, nested_params


def test_adamw_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.schedule_free_adamw(), jit=True)


def test_adamw_non_defaults_match_optax():
    state_a, state_b = compare_with_optax(
        lambda lib: lib.contrib.schedule_free_adamw(
            learning_rate=0.01,
            warmup_steps=3,
            b1=0.8,
            b2=0.99,
            eps=1e-6,
            weight_decay=0.1,
            weight_lr_power=1.0,
        ),
        steps=6,
        jit=True,
    )
    # The evaluation point x recovered from the final state agrees too.
    params = nested_params(seed=3)
    assert_trees_close(
        tsx.contrib.schedule_free_eval_params(state_a, params),
        optax.contrib.schedule_free_eval_params(state_b, params),
    )


def test_sgd_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.schedule_free_sgd(), jit=True)


def test_sgd_non_defaults_match_optax():
    compare_with_optax(
        lambda lib: lib.contrib.schedule_free_sgd(
            learning_rate=0.5, warmup_steps=2, b1=0.5, weight_decay=0.01
        ),
        steps=6,
        jit=True,
    )


def test_wrapper_with_schedule_and_base_adam_matches_optax():
    schedule = lambda c: 0.05 * (c + 1.0) ** -0.5  # noqa: E731
    compare_with_optax(
        lambda lib: lib.contrib.schedule_free(
            lib.adam(schedule, b1=0.0), learning_rate=schedule, b1=0.95
        ),
        steps=6,
        jit=True,
    )


def test_state_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.schedule_free_adamw(1e-2, state_dtype=jnp.bfloat16),
        rtol=2e-2,
        atol=2e-2,
    )


def test_eval_params_rejects_other_states():
    with pytest.raises(ValueError, match="ScheduleFreeState"):
        tsx.contrib.schedule_free_eval_params(tsx.EmptyState(), {"w": jnp.ones(2)})


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        ("schedule_free_adamw", dict(learning_rate=-1.0), "learning_rate"),
        ("schedule_free_adamw", dict(b1=0.0), "b1"),
        ("schedule_free_adamw", dict(b2=1.0), "b2"),
        ("schedule_free_adamw", dict(eps=-1.0), "eps"),
        ("schedule_free_adamw", dict(weight_decay=-1.0), "weight_decay"),
        ("schedule_free_adamw", dict(weight_lr_power=-1.0), "weight_lr_power"),
        ("schedule_free_adamw", dict(warmup_steps=-1), "warmup_steps"),
        ("schedule_free_sgd", dict(learning_rate=-1.0), "learning_rate"),
        ("schedule_free_sgd", dict(b1=1.5), "b1"),
        ("schedule_free_sgd", dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        getattr(tsx.contrib, fn)(**kwargs)
