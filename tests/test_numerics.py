"""tsx.numerics: schedule evaluation with a checkable non-finite error."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import tsx


def _bad(count):
    # Finite for a while, then log of a negative number.
    return jnp.log(3.0 - count)


def test_a_constant_passes_through_and_a_schedule_is_evaluated():
    assert tsx.numerics.schedule_value(0.5, 3) == 0.5
    np.testing.assert_allclose(tsx.numerics.schedule_value(_bad, 2), 0.0)


def test_a_non_finite_schedule_value_is_a_checkable_error_naming_the_step():
    tx = tsx.sgd(_bad)
    params = {"w": jnp.ones(2)}

    def step(state):
        return tx.update(params, state, params)[1]

    state = tx.init(params)
    checked = jax.jit(checkify.checkify(step))
    for _ in range(3):
        err, state = checked(state)
        err.throw()
    err, _ = checked(state)
    with pytest.raises(
        checkify.JaxRuntimeError, match="learning rate schedule .* step 3"
    ):
        err.throw()


def _instructions(fn):
    text = jax.jit(fn).lower(1).compile().as_text()
    return len(re.findall(r"^\s*(?:ROOT )?%\S+ = ", text, re.M))


def test_unchecked_the_check_costs_nothing():
    def with_check(count):
        return tsx.numerics.schedule_value(_bad, count)

    assert _instructions(with_check) == _instructions(_bad)
