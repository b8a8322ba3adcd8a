"""inject_hyperparams against Optax: updates, state layout, dtypes, jit, vmap."""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import (
    assert_trees_close,
    compare_with_optax,
    grads_at,
    nested_params,
    state_layout,
)


def test_adam_constants_match_optax():
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.adam)(learning_rate=0.1), jit=True
    )
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.adam)(3e-2, b1=0.5, b2=0.9, eps=1e-3),
        jit=True,
    )


def test_adam_with_schedules_matches_optax():
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.adam)(
            learning_rate=lib.warmup_cosine_decay_schedule(0.0, 0.1, 2, 6),
            b1=lib.linear_schedule(0.5, 0.9, 4),
        ),
        steps=6,
        jit=True,
    )


def test_sgd_matches_optax():
    compare_with_optax(lambda lib: lib.inject_hyperparams(lib.sgd)(learning_rate=0.1))
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.sgd)(
            learning_rate=lambda count: 0.1 * 0.9**count, momentum=0.9, nesterov=True
        ),
        steps=6,
        jit=True,
    )
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.sgd)(
            learning_rate=0.05, momentum=lib.linear_schedule(0.0, 0.9, 3)
        ),
        steps=5,
    )


def test_state_type_and_fields():
    opt = tsx.inject_hyperparams(tsx.sgd)(learning_rate=0.1, momentum=0.9)
    state = opt.init(nested_params())
    assert isinstance(state, tsx.InjectStatefulHyperparamsState)
    assert type(state).__name__ == "InjectStatefulHyperparamsState"
    assert state._fields == optax.InjectStatefulHyperparamsState._fields
    assert tsx.InjectHyperparamsState._fields == optax.InjectHyperparamsState._fields
    assert set(state.hyperparams) == {"learning_rate", "momentum"}
    assert isinstance(opt, tsx.GradientTransformationExtraArgs)


def test_static_args_match_optax():
    mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)  # noqa: E731
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.adamw, static_args="mask")(
            learning_rate=0.1, weight_decay=0.2, mask=mask
        )
    )
    compare_with_optax(
        lambda lib: lib.inject_hyperparams(lib.sgd, static_args=["momentum"])(
            learning_rate=0.1, momentum=0.5
        )
    )
    state = tsx.inject_hyperparams(tsx.sgd, static_args=["momentum"])(
        learning_rate=0.1, momentum=0.5
    ).init(nested_params())
    assert "momentum" not in state.hyperparams


@pytest.mark.parametrize("static_args", ["lr", ["lr"], ("step_size", "nope")])
def test_unknown_static_args_raise(static_args):
    with pytest.raises(ValueError, match="static_args"):
        tsx.inject_hyperparams(tsx.scale, static_args=static_args)


@pytest.mark.parametrize(
    "hyperparam_dtype,param_dtype",
    [
        (None, jnp.bfloat16),
        (None, jnp.float32),
        (jnp.bfloat16, jnp.float32),
        (jnp.float32, jnp.bfloat16),
    ],
)
def test_hyperparam_dtypes_match_optax(hyperparam_dtype, param_dtype):
    params = {"w": jnp.ones((2, 3), param_dtype), "b": jnp.ones(3, param_dtype)}
    grads = grads_at(params, 0)
    layouts = []
    for lib in (tsx, optax):
        opt = lib.inject_hyperparams(lib.adam, hyperparam_dtype=hyperparam_dtype)(
            learning_rate=lib.linear_schedule(0.1, 0.01, 5),
            b1=0.9,
            b2=jnp.asarray(0.99, jnp.float32),  # strongly typed: keeps float32
            eps=jnp.asarray(1e-6),  # weakly typed: takes the chosen dtype
        )
        state = opt.init(params)
        after_init = state_layout(state)
        _, state = jax.jit(opt.update)(grads, state, params)
        with_params = state_layout(state)
        # Without params, Optax falls back to the default float dtype.
        _, state = jax.jit(opt.update)(grads, state)
        layouts.append((after_init, with_params, state_layout(state)))
    assert layouts[0] == layouts[1]
    b1 = layouts[0][0]["hyperparams"]["b1"][1]
    assert b1 == str(jnp.dtype(hyperparam_dtype or param_dtype))


def test_mixed_param_dtypes_pick_the_widest_like_optax():
    params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    layouts = [
        state_layout(lib.inject_hyperparams(lib.sgd)(0.1, momentum=0.9).init(params))
        for lib in (tsx, optax)
    ]
    assert layouts[0] == layouts[1]
    assert layouts[0]["hyperparams"]["learning_rate"] == ((), "float32")


def test_changing_hyperparams_under_jit_does_not_recompile():
    params = nested_params()
    results, traces = {}, {}
    for lib in (tsx, optax):
        opt = lib.inject_hyperparams(lib.adam)(learning_rate=0.1)
        traces[lib.__name__] = 0

        def step(g, s, p, opt=opt, name=lib.__name__):
            traces[name] += 1
            return opt.update(g, s, p)

        jstep = jax.jit(step)
        state, p, out = opt.init(params), params, []
        for i, lr in enumerate([0.1, 0.05, 0.0, 0.3, 0.01]):
            state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
            updates, state = jstep(grads_at(params, i), state, p)
            p = lib.apply_updates(p, updates)
            out.append(updates)
            np.testing.assert_allclose(state.hyperparams["learning_rate"], lr)
        results[lib.__name__] = out
    assert traces["tsx"] == 1
    assert traces["tsx"] == traces["optax"]
    for i, (a, b) in enumerate(zip(results["tsx"], results["optax"], strict=True)):
        assert_trees_close(a, b, msg=f"step {i}")
    # lr = 0 at the third step: the update is exactly zero.
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(results["tsx"][2]))


def test_python_float_overrides_recompile_like_optax():
    params = nested_params()
    traces = {}
    for lib in (tsx, optax):
        opt = lib.inject_hyperparams(lib.sgd)(learning_rate=0.1, momentum=0.9)
        traces[lib.__name__] = 0

        def step(g, s, p, opt=opt, name=lib.__name__):
            traces[name] += 1
            return opt.update(g, s, p)

        jstep = jax.jit(step)
        state = opt.init(params)
        for i, lr in enumerate([0.2, 0.1, 0.05, 0.02]):
            state.hyperparams["learning_rate"] = lr
            _, state = jstep(grads_at(params, i), state, params)
    # At most one extra trace (the first Python float is weakly typed).
    assert traces["tsx"] == traces["optax"] <= 2


def test_overriding_a_scheduled_hyperparam_has_no_effect():
    params = nested_params()
    grads = grads_at(params, 0)
    opt = tsx.inject_hyperparams(tsx.sgd)(learning_rate=tsx.constant_schedule(0.5))
    state = opt.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(123.0)
    updates, state = opt.update(grads, state)
    assert_trees_close(updates, jax.tree.map(lambda g: -0.5 * g, grads))


def test_vmap_over_learning_rates_in_the_state():
    params = nested_params()
    lrs = jnp.asarray([0.3, 0.1, 0.01])
    opt = tsx.inject_hyperparams(tsx.adam)(learning_rate=0.1)
    state = opt.init(params)

    def with_lr(lr):
        return state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})

    states = jax.vmap(with_lr)(lrs)
    update = jax.jit(jax.vmap(opt.update, in_axes=(None, 0, None)))
    for step in range(3):
        batched, states = update(grads_at(params, step), states, params)
    for i, lr in enumerate(lrs.tolist()):
        ref = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        ref_state = ref.init(params)
        for step in range(3):
            ref_updates, ref_state = ref.update(
                grads_at(params, step), ref_state, params
            )
        assert_trees_close(jax.tree.map(lambda x: x[i], batched), ref_updates)


def test_vmap_over_learning_rates_passed_to_the_factory():
    params = nested_params()
    grads = grads_at(params, 0)
    lrs = jnp.asarray([0.2, 0.02])

    def one_step(lr, lib):
        opt = lib.inject_hyperparams(lib.sgd)(learning_rate=lr, momentum=0.9)
        return opt.update(grads, opt.init(params), params)

    ours, our_states = jax.vmap(lambda lr: one_step(lr, tsx))(lrs)
    theirs, their_states = jax.vmap(lambda lr: one_step(lr, optax))(lrs)
    assert_trees_close(ours, theirs)
    assert state_layout(our_states) == state_layout(their_states)
    np.testing.assert_allclose(our_states.hyperparams["learning_rate"], lrs)


def test_first_update_uses_step_zero():
    opt = tsx.inject_hyperparams(tsx.scale)(lambda count: count)
    updates, state = jax.jit(opt.update)(jnp.array([-1.0, 2.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_array_equal(updates, np.zeros(2))
    updates, state = jax.jit(opt.update)(jnp.array([-1.0, 2.0]), state)
    np.testing.assert_array_equal(updates, np.array([-1.0, 2.0]))
    assert int(state.count) == 2


class _RunningSumState(NamedTuple):
    total: jax.Array


class _RunningSum:
    """A stateful schedule whose value is the running sum of an extra argument."""

    def init(self):
        return _RunningSumState(jnp.zeros([], jnp.float32))

    def update(self, state, **extra_args):
        return _RunningSumState(state.total + extra_args["addendum"])

    def __call__(self, state, **extra_args):
        del extra_args
        return state.total


def test_stateful_schedule_with_extra_args_matches_optax():
    params = (jnp.ones(3), jnp.ones(2))
    extra = {"addendum": jnp.asarray(0.3, jnp.float32)}
    out = []
    for lib in (tsx, optax):
        opt = lib.inject_hyperparams(lib.scale)(step_size=_RunningSum())
        state = jax.jit(opt.init)(params)
        for _ in range(3):
            updates, state = jax.jit(opt.update)(params, state, params, **extra)
        out.append((updates, state))
    (ours, our_state), (theirs, their_state) = out
    assert_trees_close(ours, theirs)
    assert state_layout(our_state) == state_layout(their_state)
    # Values seen by updates 1..3 are 0, 0.3, 0.6; the last update used 0.6.
    np.testing.assert_allclose(ours[0], 0.6 * np.ones(3), rtol=1e-6)
    np.testing.assert_allclose(our_state.hyperparams_states["step_size"].total, 0.9)


def test_wrapped_schedule_counts_steps_like_optax():
    sched = tsx.linear_schedule(1.0, 0.0, 4)
    ours, theirs = tsx.WrappedSchedule(sched), optax.WrappedSchedule(sched)
    a, b = ours.init(), theirs.init()
    assert state_layout(a) == state_layout(b)
    for _ in range(6):
        np.testing.assert_allclose(ours(a, loss=1.0), theirs(b, loss=1.0))
        a, b = ours.update(a, loss=1.0), theirs.update(b, loss=1.0)
        assert int(a.count) == int(b.count)
    np.testing.assert_allclose(ours(a), 0.0)


def test_inject_stateful_hyperparams_is_deprecated_alias():
    with pytest.warns(DeprecationWarning):
        factory = tsx.inject_stateful_hyperparams(tsx.adam)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compare_with_optax(
            lambda lib: lib.inject_stateful_hyperparams(lib.adam)(learning_rate=0.1),
            steps=3,
        )
    assert isinstance(
        factory(0.1).init(nested_params()), tsx.InjectStatefulHyperparamsState
    )


def test_inject_keeps_hyperparameter_validation():
    with pytest.raises(ValueError, match="learning_rate"):
        tsx.inject_hyperparams(tsx.adam)(learning_rate=-1.0).init(nested_params())


def test_non_numeric_arguments_pass_through():
    # A dtype object is not a number: it is passed through, not injected. (The
    # scalar type jnp.bfloat16 is callable, so it needs static_args, as in Optax.)
    for mu_dtype, static in [(jnp.dtype(jnp.bfloat16), ()), (jnp.bfloat16, "mu_dtype")]:
        compare_with_optax(
            lambda lib, mu_dtype=mu_dtype, static=static: lib.inject_hyperparams(
                lib.adam, static_args=static
            )(0.1, mu_dtype=mu_dtype),
            steps=3,
            rtol=1e-2,
            atol=1e-2,
        )
