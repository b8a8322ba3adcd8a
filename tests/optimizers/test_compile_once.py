"""Changing the learning rate between steps must not recompile a jitted step.

Two realistic patterns: the learning rate is a ``jax.Array`` argument of a
jitted step that builds the optimizer inside, and the learning rate lives in
an ``inject_hyperparams`` state that the training loop edits. Each jitted
function counts its traces in Python (a trace happens exactly when JAX
compiles a new specialisation) and its compiled-cache size.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx

PARAMS = {"w": jnp.arange(12.0).reshape(3, 4) / 10.0, "b": jnp.ones(4)}
GRADS = jax.tree.map(lambda x: 0.5 * x - 0.2, PARAMS)


def value_fn(params):
    return sum(jnp.sum(x**2) for x in jax.tree.leaves(params))


# Optimizers whose update is linear in the learning rate (so a doubled rate
# doubles the update), built from a learning rate `lr`.
LINEAR_IN_LR = {
    "sgd": lambda lr: tsx.sgd(lr, momentum=0.9),
    "adam": lambda lr: tsx.adam(lr),
    "yogi": lambda lr: tsx.yogi(lr),
    "radam": lambda lr: tsx.radam(lr, b2=0.5),  # rectified from step 1
    "sm3": lambda lr: tsx.sm3(lr),
    "optimistic_gradient_descent": lambda lr: tsx.optimistic_gradient_descent(lr),
    "optimistic_adam_v2": lambda lr: tsx.optimistic_adam_v2(lr),
    "lbfgs": lambda lr: tsx.lbfgs(lr, linesearch=None),
    "polyak_sgd": lambda lr: tsx.polyak_sgd(scaling=lr, max_learning_rate=10.0),
    "registry_adamw": lambda lr: tsx.optimizers.get("adamw", learning_rate=lr),
}


@pytest.mark.parametrize("name", sorted(LINEAR_IN_LR))
def test_array_learning_rate_argument_compiles_once(name):
    make = LINEAR_IN_LR[name]
    traces = []

    @jax.jit
    def step(params, state, lr):
        traces.append(None)
        return make(lr).update(GRADS, state, params, value=value_fn(params))

    state = make(jnp.asarray(0.1)).init(PARAMS)
    u1, _ = step(PARAMS, state, jnp.asarray(0.1))
    u2, _ = step(PARAMS, state, jnp.asarray(0.2))
    u3, _ = step(PARAMS, state, jnp.asarray(0.05))
    assert len(traces) == 1
    assert step._cache_size() == 1
    # The new rates were used, not a value baked in at the first trace.
    leaves = [jax.tree.leaves(u) for u in (u1, u2, u3)]
    for a, b, c in zip(*leaves, strict=True):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(c, 0.5 * a, rtol=1e-5, atol=1e-7)


def test_schedule_learning_rate_steps_compile_once():
    traces = []
    tx = tsx.radam(lambda count: 0.1 * 0.5**count, b2=0.5)

    @jax.jit
    def step(params, state):
        traces.append(None)
        updates, state = tx.update(GRADS, state, params)
        return tsx.apply_updates(params, updates), state

    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(4):
        params, state = step(params, state)
    assert len(traces) == 1


@pytest.mark.parametrize(
    "factory,kwargs",
    [
        (tsx.yogi, {"learning_rate": 0.1}),
        (tsx.radam, {"learning_rate": 0.1, "b2": 0.5}),
        (tsx.optimistic_adam_v2, {"learning_rate": 0.1}),
        (tsx.sm3, {"learning_rate": 0.1}),
    ],
)
def test_inject_hyperparams_state_edit_compiles_once(factory, kwargs):
    tx = tsx.inject_hyperparams(factory)(**kwargs)
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(None)
        return tx.update(GRADS, state, params)

    state = tx.init(PARAMS)
    u1, _ = step(PARAMS, state)
    state.hyperparams["learning_rate"] = jnp.asarray(0.3, jnp.float32)
    u2, _ = step(PARAMS, state)
    assert len(traces) == 1
    assert step._cache_size() == 1
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2), strict=True):
        np.testing.assert_allclose(b, 3 * a, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tsx.lbfgs(),
        lambda: tsx.chain(
            tsx.sgd(1.0), tsx.scale_by_backtracking_linesearch(10, store_grad=True)
        ),
    ],
    ids=["lbfgs_zoom", "sgd_backtracking"],
)
def test_linesearch_loop_compiles_once(make):
    # The initial state is strongly typed like the state an update returns, so
    # the second step does not retrace (Optax 0.2.8 traces twice here).
    tx = make()
    vag = tsx.value_and_grad_from_state(value_fn)
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(None)
        value, grad = vag(params, state=state)
        updates, state = tx.update(
            grad, state, params, value=value, grad=grad, value_fn=value_fn
        )
        return tsx.apply_updates(params, updates), state

    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(3):
        params, state = step(params, state)
    assert len(traces) == 1
    assert value_fn(params) < value_fn(PARAMS)
