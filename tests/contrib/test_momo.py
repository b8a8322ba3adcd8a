"""MoMo and MoMo-Adam against Optax (they need the loss as value=)."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax


def _loss(step, params):
    # A positive, parameter-dependent loss, different at every step.
    sq = sum(jnp.sum(x**2) for x in jax.tree.leaves(params))
    return {"value": 0.5 * sq + 0.1 * step}


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_defaults_match_optax(name):
    compare_with_optax(
        lambda lib: getattr(lib.contrib, name)(), extra_args=_loss, steps=6
    )


@pytest.mark.parametrize("adapt", [False, True])
def test_momo_non_defaults_match_optax(adapt):
    compare_with_optax(
        lambda lib: lib.contrib.momo(
            lambda c: 0.5 * 0.9**c,
            beta=0.5,
            lower_bound=-1.0,
            weight_decay=0.1,
            adapt_lower_bound=adapt,
        ),
        extra_args=_loss,
        steps=6,
        jit=True,
    )


@pytest.mark.parametrize("adapt", [False, True])
def test_momo_adam_non_defaults_match_optax(adapt):
    compare_with_optax(
        lambda lib: lib.contrib.momo_adam(
            lambda c: 0.05 * 0.9**c,
            b1=0.8,
            b2=0.99,
            eps=1e-6,
            lower_bound=1.0,
            weight_decay=0.05,
            adapt_lower_bound=adapt,
        ),
        extra_args=_loss,
        steps=6,
        jit=True,
    )


def test_missing_value_is_a_type_error_as_in_optax():
    import optax

    params = {"w": jnp.ones(3)}
    theirs = optax.contrib.momo()
    with pytest.raises(TypeError):
        theirs.update(params, theirs.init(params), params)
    ours = tsx.contrib.momo()
    with pytest.raises(TypeError, match="value=loss"):
        ours.update(params, ours.init(params), params)


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        ("momo", dict(learning_rate=-1.0), "learning_rate"),
        ("momo", dict(beta=1.0), "beta"),
        ("momo", dict(weight_decay=-1.0), "weight_decay"),
        ("momo_adam", dict(learning_rate=-1.0), "learning_rate"),
        ("momo_adam", dict(b1=1.0), "b1"),
        ("momo_adam", dict(b2=-0.1), "b2"),
        ("momo_adam", dict(eps=-1.0), "eps"),
        ("momo_adam", dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        getattr(tsx.contrib, fn)(**kwargs)
