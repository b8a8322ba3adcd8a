"""The spike rule: steps far above the recent gradient norms (or losses) are refused.

The oracle for a run is the same run without the spiking steps; the rule's bar
is checked against mean and standard deviation computed by hand.
"""

import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tsx.training import SpikeRule, TrainState

PARAMS = {"w": jnp.zeros((8, 4)), "b": jnp.zeros(4)}


def _grads(t: int, scale: float = 1.0):
    keys = jax.random.split(jax.random.key(t), 2)
    return {
        "w": scale * jax.random.normal(keys[0], (8, 4)),
        "b": scale * jax.random.normal(keys[1], (4,)),
    }


@jax.jit
def _step(state, grads):
    return state.apply_gradients(grads=grads)


def test_a_run_with_spikes_ends_where_the_run_without_them_ends():
    spikes = {25: 1e3, 26: 50.0, 40: 1e4}
    rule = SpikeRule(window=10, threshold=6.0)
    guarded = TrainState.create(
        apply_fn=None, params=PARAMS, tx=tsx.adam(1e-2), skip_spikes=rule
    )
    clean = TrainState.create(apply_fn=None, params=PARAMS, tx=tsx.adam(1e-2))
    for t in range(60):
        guarded = _step(guarded, _grads(t, spikes.get(t, 1.0)))
        if t not in spikes:
            clean = _step(clean, _grads(t))
    assert int(guarded.skipped_steps) == 3
    assert int(guarded.guard.spikes.refused) == 3
    assert int(guarded.guard.spikes.count) == 57
    assert int(guarded.step) == int(clean.step) == 57
    jax.tree.map(np.testing.assert_array_equal, guarded.params, clean.params)


def test_the_bar_is_mean_plus_threshold_standard_deviations():
    rule = SpikeRule(window=4, threshold=1.0).start()
    for v in (1.0, 2.0, 3.0, 4.0):
        assert not rule.is_spike(v)  # not enough history yet: never a spike
        rule = rule.record(v, jnp.asarray(True), jnp.asarray(False))
    bar = 2.5 + math.sqrt(1.25)  # mean and population std of 1, 2, 3, 4
    assert not rule.is_spike(bar - 1e-3)
    assert rule.is_spike(bar + 1e-3)
    assert not rule.is_spike(jnp.inf)  # the finiteness check handles it
    # The window slides: 5 replaces 1; bar = mean(2, 3, 4, 5) + std.
    rule = rule.record(5.0, jnp.asarray(True), jnp.asarray(False))
    assert rule.is_spike(3.5 + math.sqrt(1.25) + 1e-3)
    assert not rule.is_spike(3.5 + math.sqrt(1.25) - 1e-3)


def test_refused_values_are_not_recorded_and_min_history_starts_the_rule():
    rule = SpikeRule(window=5, threshold=2.0, min_history=2).start()
    rule = rule.record(1.0, jnp.asarray(True), jnp.asarray(False))
    assert not rule.is_spike(100.0)  # one value: below min_history
    rule = rule.record(1.5, jnp.asarray(True), jnp.asarray(False))
    assert rule.is_spike(100.0)
    after = rule.record(100.0, jnp.asarray(False), jnp.asarray(True))
    np.testing.assert_array_equal(after.history, rule.history)
    assert int(after.count) == 2 and int(after.refused) == 1


def test_the_loss_metric_reads_the_loss_given_to_apply_gradients():
    rule = SpikeRule(window=3, threshold=3.0, metric="loss")
    state = TrainState.create(
        apply_fn=None, params=PARAMS, tx=tsx.sgd(0.1), skip_spikes=rule
    )
    step = jax.jit(lambda s, g, loss: s.apply_gradients(grads=g, loss=loss))
    for t, loss in enumerate((2.0, 2.1, 1.9, 2.05)):
        state = step(state, _grads(t), loss)
    spiked = step(state, _grads(9), 9.0)  # same gradient scale, loss spikes
    assert int(spiked.skipped_steps) == 1
    jax.tree.map(np.testing.assert_array_equal, spiked.params, state.params)
    with pytest.raises(ValueError, match="loss=loss"):
        state.apply_gradients(grads=_grads(0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window": 1}, "window=1"),
        ({"window": 4.0}, "window=4.0"),
        ({"threshold": -1.0}, "threshold=-1.0"),
        ({"threshold": "6"}, "threshold='6'"),
        ({"metric": "update_norm"}, "metric='update_norm'"),
        ({"window": 8, "min_history": 9}, "min_history=9"),
    ],
)
def test_bad_arguments_fail_when_the_state_is_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainState.create(
            apply_fn=None,
            params=PARAMS,
            tx=tsx.sgd(0.1),
            skip_spikes=SpikeRule(**kwargs),
        )
    with pytest.raises(TypeError, match="skip_spikes=5"):
        TrainState.create(apply_fn=None, params=PARAMS, tx=tsx.sgd(0.1), skip_spikes=5)


def test_the_rule_round_trips_through_flax_serialization():
    make = lambda: TrainState.create(  # noqa: E731
        apply_fn=None, params=PARAMS, tx=tsx.sgd(0.1), skip_spikes=SpikeRule(window=4)
    )
    state = make()
    for t in range(3):
        state = _step(state, _grads(t))
    restored = flax.serialization.from_bytes(make(), flax.serialization.to_bytes(state))
    np.testing.assert_array_equal(
        restored.guard.spikes.history, state.guard.spikes.history
    )
    assert int(restored.guard.spikes.count) == 3
    assert restored.guard.spikes.window == 4
