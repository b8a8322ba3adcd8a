"""sgdr_schedule against Optax."""

import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


def test_matches_optax():
    cycles = [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=10),
        dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=6),
        dict(
            init_value=0.0,
            peak_value=0.2,
            warmup_steps=3,
            decay_steps=8,
            end_value=0.01,
        ),
    ]
    assert_matches_optax(
        lambda lib: lib.sgdr_schedule(cycles), around(2, 10, 16, 19, 24)
    )


def test_bad_cycles_raise():
    with pytest.raises(ValueError, match="cosine_kwargs"):
        tsx.sgdr_schedule([])
    with pytest.raises(ValueError, match="decay_steps"):
        tsx.sgdr_schedule(
            [dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=5)]
        )
