"""Warmup schedules (constant, cosine decay, exponential decay) against Optax."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


@pytest.mark.parametrize("warmup", [0, 1, 6])
def test_warmup_constant_matches_optax(warmup):
    assert_matches_optax(
        lambda lib: lib.warmup_constant_schedule(0.1, 1.0, warmup), around(warmup)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=20),
        dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=9),
        dict(
            init_value=0.0,
            peak_value=2.0,
            warmup_steps=3,
            decay_steps=15,
            end_value=0.2,
            exponent=2.0,
        ),
        dict(init_value=0.3, peak_value=0.0, warmup_steps=3, decay_steps=10),
    ],
)
def test_warmup_cosine_decay_matches_optax(kwargs):
    w, d = kwargs["warmup_steps"], kwargs["decay_steps"]
    assert_matches_optax(
        lambda lib: lib.warmup_cosine_decay_schedule(**kwargs),
        around(w, (w + d) // 2, d),
    )


def test_warmup_cosine_decay_by_hand():
    sched = tsx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 30, end_value=0.1)
    np.testing.assert_allclose(sched(5), 0.5, rtol=1e-6)
    np.testing.assert_allclose(sched(10), 1.0, rtol=1e-6)
    # Halfway through the 20 decay steps: 0.1 + 0.9 / 2.
    np.testing.assert_allclose(sched(20), 0.55, rtol=1e-6)
    np.testing.assert_allclose(sched(30), 0.1, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=4, decay_rate=0.5),
        dict(transition_steps=4, decay_rate=0.5, transition_begin=3, staircase=True),
        dict(transition_steps=2, decay_rate=0.7, end_value=0.3),
    ],
)
def test_warmup_exponential_decay_matches_optax(kwargs):
    assert_matches_optax(
        lambda lib: lib.warmup_exponential_decay_schedule(0.0, 1.0, 5, **kwargs),
        around(5, 8, 12, 20),
    )


def test_bad_warmup_arguments_raise():
    with pytest.raises(ValueError, match="warmup_steps"):
        tsx.warmup_constant_schedule(0.0, 1.0, -1)
    with pytest.raises(ValueError, match="warmup_steps"):
        tsx.warmup_cosine_decay_schedule(0.0, 1.0, -1, 10)
    with pytest.raises(ValueError, match="warmup_steps"):
        tsx.warmup_exponential_decay_schedule(0.0, 1.0, -2, 4, 0.5)
    with pytest.raises(ValueError, match="decay_steps"):
        tsx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10)
    with pytest.raises(ValueError, match="decay_rate"):
        tsx.warmup_exponential_decay_schedule(0.0, 1.0, 2, 4, -0.5)
