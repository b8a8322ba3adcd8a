"""One-cycle schedules against Optax and their argument checks."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=100, peak_value=1.0),
        dict(
            transition_steps=40,
            peak_value=0.5,
            pct_start=0.25,
            pct_final=0.75,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        dict(transition_steps=3, peak_value=1.0),
    ],
)
def test_linear_matches_optax(kwargs):
    t = kwargs["transition_steps"]
    assert_matches_optax(
        lambda lib: lib.linear_onecycle_schedule(**kwargs),
        around(int(0.25 * t), int(0.3 * t), int(0.75 * t), int(0.85 * t), t),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=100, peak_value=1.0),
        dict(
            transition_steps=30,
            peak_value=0.2,
            pct_start=0.5,
            div_factor=5.0,
            final_div_factor=50.0,
        ),
    ],
)
def test_cosine_matches_optax(kwargs):
    t = kwargs["transition_steps"]
    assert_matches_optax(
        lambda lib: lib.cosine_onecycle_schedule(**kwargs),
        around(int(0.3 * t), int(0.5 * t), t),
    )


def test_linear_by_hand():
    sched = tsx.linear_onecycle_schedule(100, 1.0, div_factor=10.0)
    np.testing.assert_allclose(sched(0), 0.1, rtol=1e-6)
    np.testing.assert_allclose(sched(15), 0.55, rtol=1e-6)
    np.testing.assert_allclose(sched(30), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sched(85), 0.1, rtol=1e-6)
    np.testing.assert_allclose(sched(100), 0.1 / 1e4, rtol=1e-5)


@pytest.mark.parametrize(
    "name", ["linear_onecycle_schedule", "cosine_onecycle_schedule"]
)
@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(transition_steps=0), "transition_steps"),
        (dict(transition_steps=-10), "transition_steps"),
        (dict(transition_steps=10, pct_start=1.5), "pct_start"),
        (dict(transition_steps=10, pct_start=-0.1), "pct_start"),
        (dict(transition_steps=10, div_factor=0.0), "div_factor"),
        (dict(transition_steps=10, final_div_factor=-1.0), "final_div_factor"),
    ],
)
def test_bad_arguments_raise(name, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        getattr(tsx, name)(peak_value=1.0, **kwargs)


def test_linear_pct_final_checks():
    with pytest.raises(ValueError, match="pct_final"):
        tsx.linear_onecycle_schedule(10, 1.0, pct_final=1.2)
    with pytest.raises(ValueError, match="pct_final"):
        tsx.linear_onecycle_schedule(10, 1.0, pct_start=0.6, pct_final=0.5)
