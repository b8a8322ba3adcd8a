"""constant, polynomial and linear schedules against Optax and by hand."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


def test_constant_matches_optax():
    assert_matches_optax(lambda lib: lib.constant_schedule(0.3), around(5))
    assert tsx.constant_schedule(7)(123) == 7


@pytest.mark.parametrize("power,begin", [(0.5, 5), (1, 0), (2, 5), (3.0, 0)])
def test_polynomial_matches_optax(power, begin):
    assert_matches_optax(
        lambda lib: lib.polynomial_schedule(1.0, 0.01, power, 20, begin),
        around(begin, begin + 10, begin + 20),
    )


def test_linear_matches_optax():
    assert_matches_optax(
        lambda lib: lib.linear_schedule(0.0, 2.0, 8, transition_begin=3),
        around(3, 7, 11),
    )


def test_linear_by_hand():
    sched = tsx.linear_schedule(1.0, 3.0, transition_steps=10, transition_begin=2)
    # Held at 1 until step 2, then +0.2 per step, 3 from step 12 on.
    for step, expected in [(0, 1.0), (2, 1.0), (7, 2.0), (12, 3.0), (50, 3.0)]:
        np.testing.assert_allclose(sched(step), expected, rtol=1e-6)


@pytest.mark.parametrize("steps", [0, -4])
def test_non_positive_transition_steps_is_constant_like_optax(steps):
    # Optax logs and returns the constant init_value; tsx keeps that.
    assert_matches_optax(
        lambda lib: lib.polynomial_schedule(0.5, 0.1, 2, steps), [0, 9]
    )
    assert_matches_optax(lambda lib: lib.linear_schedule(0.5, 0.1, steps), [0, 9])
    assert tsx.linear_schedule(0.5, 0.1, steps)(100) == 0.5


def test_negative_transition_begin_falls_back_to_zero_like_optax():
    assert_matches_optax(
        lambda lib: lib.linear_schedule(1.0, 0.0, 10, transition_begin=-3),
        around(10),
    )
