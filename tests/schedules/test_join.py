"""join_schedules against Optax and its argument checks."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


def test_matches_optax():
    assert_matches_optax(
        lambda lib: lib.join_schedules(
            [
                lib.linear_schedule(0.0, 1.0, 5),
                lib.constant_schedule(1.0),
                lib.cosine_decay_schedule(1.0, 10),
            ],
            [5, 12],
        ),
        around(5, 12, 22),
    )


def test_later_schedules_count_from_their_boundary():
    sched = tsx.join_schedules([tsx.constant_schedule(-1.0), lambda t: 10.0 * t], [3])
    np.testing.assert_allclose(sched(2), -1.0)
    np.testing.assert_allclose(sched(3), 0.0)
    np.testing.assert_allclose(sched(7), 40.0)


@pytest.mark.parametrize(
    "n_schedules,boundaries",
    [(0, []), (2, []), (2, [3, 5]), (3, [5, 2])],
)
def test_bad_arguments_raise(n_schedules, boundaries):
    schedules = [tsx.constant_schedule(1.0)] * n_schedules
    with pytest.raises(ValueError, match="schedules|boundaries"):
        tsx.join_schedules(schedules, boundaries)
