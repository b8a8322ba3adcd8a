"""warmup_stable_decay_schedule against values worked out from its formula.

Setting: peak 1.0, 100 steps, 10 warmup steps, decay_fraction 0.2 (so the
decay covers steps 80..100), init 0.0, end 0.1. Progress through the decay is
p = (t - 80) / 20, and the value is 0.1 + 0.9 * g(p).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx

COS_QUARTER = 0.5 * (1 + math.cos(math.pi / 4))  # g_cosine(0.25)

# step -> expected value for each decay shape (plateau and warmup are shared).
EXPECTED = {
    "linear": {85: 0.1 + 0.9 * 0.75, 90: 0.1 + 0.9 * 0.5, 95: 0.1 + 0.9 * 0.25},
    "cosine": {
        85: 0.1 + 0.9 * COS_QUARTER,
        90: 0.1 + 0.9 * 0.5,
        95: 0.1 + 0.9 * (1 - COS_QUARTER),
    },
    "1-sqrt": {
        85: 0.1 + 0.9 * (1 - 0.5),
        90: 0.1 + 0.9 * (1 - math.sqrt(0.5)),
        95: 0.1 + 0.9 * (1 - math.sqrt(0.75)),
    },
}
SHARED = {
    0: 0.0,
    5: 0.5,  # warmup midpoint
    9: 0.9,
    10: 1.0,  # end of warmup
    50: 1.0,  # plateau
    80: 1.0,  # decay starts from the peak
    100: 0.1,  # end
    101: 0.1,
    10_000: 0.1,
}


def _make(decay_type):
    return tsx.warmup_stable_decay_schedule(
        peak_value=1.0,
        total_steps=100,
        warmup_steps=10,
        decay_fraction=0.2,
        init_value=0.0,
        end_value=0.1,
        decay_type=decay_type,
    )


@pytest.mark.parametrize("decay_type", ["linear", "cosine", "1-sqrt"])
def test_values_by_hand(decay_type):
    expected = {**SHARED, **EXPECTED[decay_type]}
    sched = _make(decay_type)
    steps = sorted(expected)
    want = np.array([expected[s] for s in steps])
    for s in steps:
        np.testing.assert_allclose(sched(s), expected[s], rtol=1e-6, atol=1e-7)
    ints = jnp.asarray(steps, jnp.int32)
    np.testing.assert_allclose(jax.jit(sched)(ints), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(sched))(ints.astype(jnp.float32)), want, rtol=1e-6, atol=1e-7
    )


def test_float_steps_interpolate():
    sched = _make("linear")
    np.testing.assert_allclose(sched(2.5), 0.25, rtol=1e-6)
    np.testing.assert_allclose(sched(82.5), 0.1 + 0.9 * (1 - 0.125), rtol=1e-6)


def test_init_value_and_no_warmup():
    sched = tsx.warmup_stable_decay_schedule(
        2.0, 40, warmup_steps=4, decay_fraction=0.25, init_value=0.4
    )
    # Warmup midpoint: 0.4 + (2 - 0.4) / 2; decay over steps 30..40 to 0.
    np.testing.assert_allclose(sched(2), 1.2, rtol=1e-6)
    np.testing.assert_allclose(sched(35), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sched(40), 0.0, atol=1e-7)
    flat_start = tsx.warmup_stable_decay_schedule(2.0, 40)
    np.testing.assert_allclose(flat_start(0), 2.0)


def test_decay_length_rounds_to_nearest_step():
    # 0.1 * 25 = 2.5 decay steps -> 3 (halves round up): decay covers 22..25.
    sched = tsx.warmup_stable_decay_schedule(1.0, 25, decay_fraction=0.1)
    np.testing.assert_allclose(sched(22), 1.0)
    np.testing.assert_allclose(sched(23), 2 / 3, rtol=1e-6)
    # 0.29 * 100 is 28.999...96 in floating point; it still means 29 steps.
    sched = tsx.warmup_stable_decay_schedule(1.0, 100, decay_fraction=0.29)
    np.testing.assert_allclose(sched(71), 1.0)
    np.testing.assert_allclose(sched(72), 1 - 1 / 29, rtol=1e-6)


def test_zero_decay_fraction_drops_at_the_end():
    sched = tsx.warmup_stable_decay_schedule(
        1.0, 10, decay_fraction=0.0, end_value=0.25
    )
    np.testing.assert_allclose(sched(9), 1.0)
    np.testing.assert_allclose(sched(10), 0.25)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(total_steps=0), "total_steps"),
        (dict(total_steps=-5), "total_steps"),
        (dict(total_steps=100, warmup_steps=-1), "warmup_steps"),
        (dict(total_steps=100, decay_fraction=1.5), "decay_fraction"),
        (dict(total_steps=100, decay_fraction=-0.1), "decay_fraction"),
        (dict(total_steps=100, decay_type="exponential"), "decay_type"),
        (dict(total_steps=100, warmup_steps=95, decay_fraction=0.1), "warmup_steps"),
    ],
)
def test_bad_arguments_raise(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.warmup_stable_decay_schedule(1.0, **kwargs)


def test_exported_at_top_level():
    assert (
        tsx.warmup_stable_decay_schedule is tsx.schedules.warmup_stable_decay_schedule
    )
