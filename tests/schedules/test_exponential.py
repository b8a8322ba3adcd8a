"""exponential_decay against Optax; a negative decay_rate is rejected."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


@pytest.mark.parametrize(
    "staircase,rate,end_value",
    [(False, 0.5, None), (True, 0.5, 0.2), (False, 1.5, 3.0), (True, 1.5, None)],
)
def test_matches_optax(staircase, rate, end_value):
    assert_matches_optax(
        lambda lib: lib.exponential_decay(
            1.0, 4, rate, transition_begin=3, staircase=staircase, end_value=end_value
        ),
        around(3, 7, 11, 15, 40),
    )


def test_by_hand():
    sched = tsx.exponential_decay(2.0, transition_steps=10, decay_rate=0.5)
    np.testing.assert_allclose(sched(10), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sched(5), 2.0 * 0.5**0.5, rtol=1e-6)
    stairs = tsx.exponential_decay(2.0, 10, 0.5, staircase=True)
    np.testing.assert_allclose(stairs(19), 1.0, rtol=1e-6)
    floor = tsx.exponential_decay(2.0, 10, 0.5, end_value=0.75)
    np.testing.assert_allclose(floor(100), 0.75, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=0, decay_rate=0.5),
        dict(transition_steps=-2, decay_rate=0.5),
        dict(transition_steps=5, decay_rate=0.0),
        dict(transition_steps=5, decay_rate=0.5, transition_begin=-4),
    ],
)
def test_degenerate_arguments_behave_like_optax(kwargs):
    assert_matches_optax(lambda lib: lib.exponential_decay(1.0, **kwargs), around(5))


def test_negative_decay_rate_raises():
    with pytest.raises(ValueError, match="decay_rate"):
        tsx.exponential_decay(1.0, 5, -0.5)
