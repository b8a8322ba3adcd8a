"""Fromage against Optax and by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.optimizers.helpers import schedule
from tests.oracle import compare_with_optax


@pytest.mark.parametrize("kwargs", [{}, {"min_norm": 0.1}])
@pytest.mark.parametrize("lr", [1e-2, 0.5])
def test_matches_optax(lr, kwargs):
    compare_with_optax(lambda lib: lib.fromage(lr, **kwargs), steps=6)


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(lambda lib: lib.fromage(schedule))


def test_by_hand():
    # theta' = (theta - lr * ||theta|| / ||g|| * g) / sqrt(1 + lr^2)
    p = {"w": jnp.asarray([3.0, 4.0])}
    g = {"w": jnp.asarray([1.0, 0.0])}
    tx = tsx.fromage(0.75, min_norm=0.0)
    u, _ = tx.update(g, tx.init(p), p)
    expected = (np.array([3.0, 4.0]) - 0.75 * 5.0 * np.array([1.0, 0.0])) / 1.25
    np.testing.assert_allclose(tsx.apply_updates(p, u)["w"], expected, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": 0.1, "min_norm": -1}, "min_norm"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.fromage(**kwargs)
