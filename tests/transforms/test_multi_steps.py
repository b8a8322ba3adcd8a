"""MultiSteps (gradient accumulation) and its skip functions against Optax."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, grads_at, nested_params, state_layout
from tests.transforms.helpers import checkpoint_round_trip, run_both


def _grads(n, nan_at=()):
    params = nested_params()
    out = []
    for step in range(n):
        g = grads_at(params, step)
        if step in nan_at:
            g = {**g, "scale": jnp.asarray(jnp.nan, jnp.float32)}
        out.append(g)
    return out


def _run_multi_steps(make_kwargs, grads, jit=False):
    """Run tsx's and Optax's MultiSteps side by side; compare everything each step."""
    params = nested_params()
    ms = {
        lib: lib.MultiSteps(lib.adam(1e-2), **make_kwargs(lib)) for lib in (tsx, optax)
    }
    states = {lib: m.init(params) for lib, m in ms.items()}
    assert state_layout(states[tsx]) == state_layout(states[optax])
    updates = {lib: (jax.jit(m.update) if jit else m.update) for lib, m in ms.items()}
    p = {tsx: params, optax: params}
    for step, g in enumerate(grads):
        out = {}
        for lib in (tsx, optax):
            out[lib], states[lib] = updates[lib](g, states[lib], p[lib])
            p[lib] = lib.apply_updates(p[lib], out[lib])
        assert_trees_close(out[tsx], out[optax], msg=f"updates at step {step}")
        assert_trees_close(states[tsx], states[optax], msg=f"state at step {step}")
        assert bool(ms[tsx].has_updated(states[tsx])) == bool(
            ms[optax].has_updated(states[optax])
        )
    assert state_layout(states[tsx]) == state_layout(states[optax])
    return ms[tsx], states[tsx]


# Eager MultiSteps re-traces its lax.cond at every call (slow, in Optax too);
# the code is the same under jit, so most cases run jitted.
@pytest.mark.parametrize("use_grad_mean", [True, False])
def test_constant_k_matches_optax(use_grad_mean):
    _run_multi_steps(
        lambda lib: dict(every_k_schedule=3, use_grad_mean=use_grad_mean),
        _grads(7),
        jit=True,
    )


def test_eager_update_matches_optax():
    _run_multi_steps(lambda lib: dict(every_k_schedule=2), _grads(2))


def test_schedule_k_matches_optax_and_counts_gradient_steps():
    ms, state = _run_multi_steps(
        lambda lib: dict(every_k_schedule=lambda step: jnp.where(step < 2, 1, 2)),
        _grads(6),
        jit=True,
    )
    # k = 1, 1, then 2: inner steps after calls 1, 2, 4 and 6.
    assert int(state.gradient_step) == 4
    assert bool(ms.has_updated(state))


def test_has_updated_and_zero_updates_between_steps():
    params = nested_params()
    ms = tsx.MultiSteps(tsx.adam(1e-2), every_k_schedule=2)
    state = ms.init(params)
    update = jax.jit(ms.update)
    flags = []
    for step, g in enumerate(_grads(4)):
        u, state = update(g, state, params)
        flags.append(bool(ms.has_updated(state)))
        if step % 2 == 0:
            assert all(not np.any(x) for x in jax.tree.leaves(u))
    assert flags == [False, True, False, True]
    assert int(state.gradient_step) == 2


def test_gradient_transformation_in_a_chain_matches_optax():
    run_both(
        lambda lib: lib.chain(
            lib.clip_by_global_norm(1.0),
            lib.MultiSteps(lib.adam(1e-2), 2).gradient_transformation(),
        ),
        nested_params(),
        _grads(5),
        jit=True,
    )


@pytest.mark.parametrize(
    "skip",
    [
        lambda lib: lib.skip_not_finite,
        lambda lib: functools.partial(lib.skip_large_updates, max_squared_norm=40.0),
    ],
    ids=["not_finite", "large"],
)
def test_should_skip_update_fn_matches_optax(skip):
    _, state = _run_multi_steps(
        lambda lib: dict(every_k_schedule=2, should_skip_update_fn=skip(lib)),
        _grads(6, nan_at=(2,)),
        jit=True,
    )
    assert bool(state.skip_state["should_skip"]) is False


def test_skipped_mini_step_changes_nothing_but_skip_state():
    params = nested_params()
    ms = tsx.MultiSteps(tsx.adam(1e-2), 2, should_skip_update_fn=tsx.skip_not_finite)
    state = ms.init(params)
    update = jax.jit(ms.update)
    _, state = update(_grads(1)[0], state, params)
    u, after = update(_grads(2, nan_at=(1,))[1], state, params)
    assert all(not np.any(x) for x in jax.tree.leaves(u))
    assert_trees_close(after._replace(skip_state=()), state._replace(skip_state=()))
    assert int(after.skip_state["num_not_finite"]) == 1


def test_skip_functions_alone_match_optax():
    g = _grads(1)[0]
    g_bad = {**g, "layers": [jnp.array([jnp.inf, 1.0, jnp.nan, 0, 0, 0])]}
    for tree in (g, g_bad):
        for a, b in (
            (tsx.skip_not_finite, optax.skip_not_finite),
            (
                functools.partial(tsx.skip_large_updates, max_squared_norm=5.0),
                functools.partial(optax.skip_large_updates, max_squared_norm=5.0),
            ),
        ):
            got, want = a(tree, 0, None), b(tree, 0, None)
            assert bool(got[0]) == bool(want[0])
            assert_trees_close(got[1], want[1])


def test_checkpoint_mid_cycle_restores():
    params = nested_params()
    ms = tsx.MultiSteps(tsx.adam(1e-2), every_k_schedule=3)
    update = jax.jit(ms.update)
    straight = ms.init(params)
    grads = _grads(5)
    outs = []
    for g in grads:
        u, straight = update(g, straight, params)
        outs.append(u)
    state = ms.init(params)
    for g in grads[:2]:
        _, state = update(g, state, params)
    state = checkpoint_round_trip(state, ms.init(params))
    for g, want in zip(grads[2:], outs[2:], strict=True):
        u, state = update(g, state, params)
        assert_trees_close(u, want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "k,error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), ("4", TypeError)]
)
def test_bad_every_k_schedule_raises(k, error):
    with pytest.raises(error, match="MultiSteps: every_k_schedule"):
        tsx.MultiSteps(tsx.adam(1e-3), every_k_schedule=k)
