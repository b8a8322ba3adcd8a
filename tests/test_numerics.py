"""tsx.numerics: schedule evaluation with a checkable non-finite error."""

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
    with tsx.numerics.checked_schedules():  # traced here, at the first call
        err, state = checked(state)
    err.throw()
    for _ in range(2):
        err, state = checked(state)
        err.throw()
    err, _ = checked(state)
    with pytest.raises(
        checkify.JaxRuntimeError, match="learning rate schedule .* step 3"
    ):
        err.throw()


def test_unchecked_no_effect_is_traced_so_jit_keeps_its_fast_path():
    # An effect (such as a checkify check) sends every call of a jitted
    # function through Python dispatch, about a millisecond each.
    schedule = tsx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100)
    params = {"w": jnp.ones(3)}
    for tx in [
        tsx.sgd(schedule, momentum=0.9),
        tsx.adamw(schedule, weight_decay=schedule),
        tsx.inject_hyperparams(tsx.adam)(learning_rate=schedule),
        tsx.contrib.schedule_free_adamw(schedule),
        tsx.contrib.prodigy(schedule),
    ]:
        jaxpr = jax.make_jaxpr(lambda g, s, tx=tx: tx.update(g, s, params))(
            params, tx.init(params)
        )
        assert jaxpr.effects == set(), tx
    with tsx.numerics.checked_schedules():
        jaxpr = jax.make_jaxpr(lambda c: tsx.numerics.schedule_value(_bad, c))(1)
    assert jaxpr.effects
