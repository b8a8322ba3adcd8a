"""The non-finite guard: nothing non-finite is ever stored, skips are exact.

A clean run that simply leaves out the faulty steps is the oracle: with the
guard, a run with faults must end bit for bit where it ends.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.training.models import MLP, mlp_params

# A finite gradient value on which the injector poisons its state (still far
# above any normal gradient when averaged over an accumulation window).
SENTINEL = 7777.0


def _state_injector() -> tsx.GradientTransformation:
    """Writes NaN into its own state when a gradient is near the sentinel."""

    def init(params):
        del params
        return jnp.zeros([], jnp.float32)

    def update(updates, state, params=None):
        del params
        hit = jnp.any(
            jnp.stack([jnp.any(u > SENTINEL / 8) for u in jax.tree.leaves(updates)])
        )
        return updates, jnp.where(hit, jnp.nan, state)

    return tsx.GradientTransformation(init, update)


TX = tsx.chain(_state_injector(), tsx.adam(1e-2))


def _grads(i: int, fault: str | None):
    rng = np.random.default_rng(i)
    grads = jax.tree.map(
        lambda p: rng.normal(size=p.shape).astype(np.float32), mlp_params()
    )
    bias = grads["Dense_1"]["bias"]
    if fault == "nan":
        bias[0] = np.nan
    elif fault == "inf":
        bias[1] = -np.inf
    elif fault == "overflow":  # finite, but Adam's g**2 overflows float32
        bias[2] = 1e20
    elif fault == "state":  # finite, but poisons the optimizer state
        bias[0] = SENTINEL
    return grads


FAULTS = {7: "nan", 31: "inf", 64: "overflow", 100: "state", 101: "nan", 150: "state"}
FAULTS.update({s: "overflow" for s in (170, 171, 172)})


def _create(config: str):
    return tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=mlp_params(),
        tx=TX,
        ema_decay=0.9,
        skip_nonfinite=config in ("skip", "accumulate"),
        loss_scale=(
            tsx.training.DynamicLossScale(2.0**8, growth_interval=5)
            if config == "loss_scale"
            else None
        ),
        accumulate_steps=2 if config == "accumulate" else None,
    )


STEP = jax.jit(lambda s, g: s.apply_gradients(grads=g))


def _all_finite(state) -> bool:
    trees = (state.params, state.opt_state, state.ema_params)
    return all(bool(np.isfinite(x).all()) for x in jax.tree.leaves(trees))


@pytest.mark.parametrize("config", ["skip", "loss_scale", "accumulate"])
def test_200_steps_with_faults_end_where_a_clean_run_without_them_ends(config):
    k = 2 if config == "accumulate" else 1
    # With accumulation a fault spoils its whole window; the clean run leaves
    # out every micro-batch of such a window.
    spoiled = {s // k for s in FAULTS}
    faulty, clean = _create(config), _create(config)
    for i in range(200):
        faulty = STEP(faulty, _grads(i, FAULTS.get(i)))
        assert _all_finite(faulty), i  # nothing non-finite is ever stored
        if i // k not in spoiled:
            clean = STEP(clean, _grads(i, None))
    assert int(faulty.skipped_steps) == len(spoiled)
    assert int(clean.skipped_steps) == 0
    assert int(faulty.step) == int(clean.step) == 200 // k - len(spoiled)
    assert not bool(faulty.guard.state_nonfinite)
    for name in ("params", "opt_state", "ema_params"):
        a, b = getattr(faulty, name), getattr(clean, name)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_the_overflow_case_does_poison_optax_adam_without_the_guard():
    # The failure the result check exists for: a finite gradient, a NaN-free
    # update, and an optimizer state that is inf from then on.
    params = mlp_params()
    tx = optax.adam(1e-2)
    updates, state = tx.update(_grads(0, "overflow"), tx.init(params), params)
    assert all(np.isfinite(u).all() for u in jax.tree.leaves(updates))
    assert not np.isfinite(state[0].nu["Dense_1"]["bias"]).all()


def test_a_non_finite_state_is_reported_not_skipped_silently():
    state = _create("skip")
    state = STEP(state, _grads(0, None))
    mu = state.opt_state[1][0].mu
    mu["Dense_0"]["kernel"] = mu["Dense_0"]["kernel"].at[0, 0].set(jnp.nan)
    assert not bool(state.guard.state_nonfinite)
    for i in range(1, 4):
        state = STEP(state, _grads(i, None))
    # Every step is refused, and the guard says why.
    assert int(state.step) == 1 and int(state.skipped_steps) == 3
    assert bool(state.guard.state_nonfinite)
    with pytest.raises(
        tsx.training.NonFiniteStateError,
        match=r"opt_state\[1\]\[0\]\.mu\['Dense_0'\]\['kernel'\]",
    ):
        state.check_finite()


def test_check_finite_passes_a_finite_state():
    _create("accumulate").check_finite()
