"""cosine_decay_schedule against Optax and by hand."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


@pytest.mark.parametrize("alpha,exponent", [(0.0, 1.0), (0.1, 1.0), (0.2, 2.5)])
def test_matches_optax(alpha, exponent):
    assert_matches_optax(
        lambda lib: lib.cosine_decay_schedule(0.7, 12, alpha=alpha, exponent=exponent),
        around(6, 12),
    )


def test_huge_python_int_steps_match_optax():
    import optax

    ours = tsx.cosine_decay_schedule(1.0, 3_000_000_000, alpha=0.1)
    theirs = optax.cosine_decay_schedule(1.0, 3_000_000_000, alpha=0.1)
    for step in [1_500_000_000, 2_999_999_999, 4_000_000_000]:
        np.testing.assert_allclose(ours(step), theirs(step), rtol=1e-5)


def test_by_hand():
    sched = tsx.cosine_decay_schedule(2.0, 10, alpha=0.1)
    np.testing.assert_allclose(sched(0), 2.0, rtol=1e-6)
    # Halfway the cosine factor is 1/2: 2 * (0.9 * 0.5 + 0.1) = 1.1.
    np.testing.assert_allclose(sched(5), 1.1, rtol=1e-6)
    np.testing.assert_allclose(sched(10), 0.2, rtol=1e-6)
    np.testing.assert_allclose(sched(99), 0.2, rtol=1e-6)


@pytest.mark.parametrize("decay_steps", [0, -5])
def test_non_positive_decay_steps_raise(decay_steps):
    with pytest.raises(ValueError, match="decay_steps"):
        tsx.cosine_decay_schedule(1.0, decay_steps)
