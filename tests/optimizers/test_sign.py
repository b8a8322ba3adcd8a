"""sign_sgd, signum and scale_by_sign against Optax."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.helpers import schedule
from tests.oracle import compare_with_optax


@pytest.mark.parametrize("lr", [1e-2, schedule], ids=["const", "schedule"])
def test_sign_sgd_matches_optax(lr):
    compare_with_optax(lambda lib: lib.sign_sgd(lr))


@pytest.mark.parametrize(
    "lr,kwargs",
    [(1e-2, {}), (1e-2, {"beta": 0.5}), (schedule, {"beta": 0.8})],
    ids=["default", "beta", "schedule"],
)
def test_signum_matches_optax(lr, kwargs):
    compare_with_optax(lambda lib: lib.signum(lr, **kwargs), steps=6)


def test_signum_accumulator_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.signum(1e-2, accumulator_dtype=jnp.bfloat16),
        rtol=1e-2,
        atol=1e-2,
    )


def test_scale_by_sign_by_hand():
    tx = tsx.scale_by_sign()
    u, s = tx.update({"a": jnp.asarray([-2.0, 0.0, 3.0])}, tx.init(None))
    np.testing.assert_array_equal(u["a"], [-1.0, 0.0, 1.0])
    assert s == tsx.EmptyState()


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        ("sign_sgd", {"learning_rate": -1.0}, "learning_rate"),
        ("signum", {"learning_rate": -1.0}, "learning_rate"),
        ("signum", {"learning_rate": 0.1, "beta": 1.0}, "beta"),
        ("signum", {"learning_rate": 0.1, "beta": -0.5}, "beta"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(fn, kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        getattr(tsx, fn)(**kwargs)
