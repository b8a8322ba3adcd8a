"""piecewise_constant and piecewise_interpolate schedules against Optax."""

import numpy as np
import pytest

import tsx
from tests.schedules.compare import around, assert_matches_optax


@pytest.mark.parametrize(
    "boundaries",
    [None, {}, {5: 0.5}, {0: 0.3, 4: 2.0, 9: 0.1}, {10: 0.1, 3: 0.5}, {4: 2}],
)
def test_constant_matches_optax(boundaries):
    assert_matches_optax(
        lambda lib: lib.piecewise_constant_schedule(1.0, boundaries), around(3, 5, 10)
    )


def test_constant_by_hand():
    sched = tsx.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.5})
    for step, expected in [(99, 1.0), (100, 0.1), (199, 0.1), (200, 0.05)]:
        np.testing.assert_allclose(sched(step), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "kind,boundaries",
    [
        ("linear", None),
        ("cosine", {}),
        ("linear", {4: 0.1, 8: 0.01}),
        ("cosine", {4: 0.1, 8: 0.01}),
        ("linear", {0: 0.5, 6: 3.0}),
        ("cosine", {7: 2.0, 2: 0.5}),
    ],
)
def test_interpolate_matches_optax(kind, boundaries):
    assert_matches_optax(
        lambda lib: lib.piecewise_interpolate_schedule(kind, 0.8, boundaries),
        around(2, 4, 6, 7, 8),
    )


def test_interpolate_negative_steps_match_optax():
    import optax

    for kind in ["linear", "cosine"]:
        ours = tsx.piecewise_interpolate_schedule(kind, 0.8, {4: 0.1})
        theirs = optax.piecewise_interpolate_schedule(kind, 0.8, {4: 0.1})
        np.testing.assert_allclose(ours(-2), theirs(-2))


def test_interpolate_by_hand():
    lin = tsx.piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
    # Levels 1, 0.1, 0.001; halfway between 1 and 0.1 is 0.55.
    np.testing.assert_allclose(lin(2), 0.55, rtol=1e-6)
    np.testing.assert_allclose(lin(6), (0.1 + 0.001) / 2, rtol=1e-6)
    cos = tsx.piecewise_interpolate_schedule("cosine", 1.0, {4: 0.1})
    # Quarter way along half a cosine: 0.1 + 0.9 * (1 + cos(pi/4)) / 2.
    np.testing.assert_allclose(cos(1), 0.1 + 0.45 * (1 + np.cos(np.pi / 4)), rtol=1e-6)


def test_negative_scale_raises_naming_argument():
    with pytest.raises(ValueError, match="boundaries_and_scales"):
        tsx.piecewise_constant_schedule(1.0, {5: -0.1})
    with pytest.raises(ValueError, match="boundaries_and_scales"):
        tsx.piecewise_interpolate_schedule("linear", 1.0, {5: 0.5, 9: -1.0})


def test_unknown_interpolate_type_raises():
    with pytest.raises(ValueError, match="interpolate_type"):
        tsx.piecewise_interpolate_schedule("quadratic", 1.0, {5: 0.5})
