"""TrainState is Flax's TrainState when no extra feature is asked for."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training import train_state as flax_train_state

import tsx
from tests.oracle import assert_trees_close
from tests.training.models import MLP, cross_entropy, mlp_params, regression_batch


def _loss(apply_fn, params, batch):
    return cross_entropy(apply_fn({"params": params}, batch["x"]), batch["y"])


def test_is_a_flax_train_state_and_matches_flax_with_optax():
    params = mlp_params()
    model = MLP()
    ours = tsx.training.TrainState.create(
        apply_fn=model.apply, params=params, tx=tsx.adamw(1e-2, weight_decay=0.1)
    )
    ref = flax_train_state.TrainState.create(
        apply_fn=model.apply, params=params, tx=optax.adamw(1e-2, weight_decay=0.1)
    )
    assert isinstance(ours, flax_train_state.TrainState)

    @jax.jit
    def steps(ours, ref):
        for i in range(3):
            batch = regression_batch(i)
            g1 = jax.grad(lambda p: _loss(ours.apply_fn, p, batch))(ours.params)
            g2 = jax.grad(lambda p: _loss(ref.apply_fn, p, batch))(ref.params)
            ours, ref = ours.apply_gradients(grads=g1), ref.apply_gradients(grads=g2)
        return ours, ref

    ours, ref = steps(ours, ref)
    assert int(ours.step) == ref.step == 3
    assert_trees_close(ours.params, ref.params, msg="params")
    assert_trees_close(ours.opt_state, ref.opt_state, msg="opt_state")


def test_disabled_features_cost_nothing():
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.adam(1e-3)
    )
    for name in (
        "batch_stats",
        "ema_params",
        "ema_batch_stats",
        "grad_accum",
        "micro_step",
        "loss_scale",
        "skipped_steps",
        "update_applied",
    ):
        assert getattr(state, name) is None, name
    # Same leaves as Flax's state: params, the optimizer state and the step.
    ref = flax_train_state.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=optax.adam(1e-3)
    )
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(ref))
    nbytes = sum(x.nbytes for x in jax.tree.leaves(state))
    expected = sum(
        x.nbytes for x in jax.tree.leaves((params, state.opt_state, state.step))
    )
    assert nbytes == expected
    assert bool(state.last_update_applied)


def test_a_step_with_every_feature_traces_no_effect():
    # A traced effect (a checkify check, a debug callback) would send every
    # call of the jitted step through JAX's slow Python dispatch path.
    params = mlp_params()
    schedule = tsx.warmup_cosine_decay_schedule(0.0, 1e-3, 5, 50)
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(schedule)),
        ema_decay=0.9,
        accumulate_steps=2,
        loss_scale=tsx.training.DynamicLossScale(2.0**10),
        skip_nonfinite=True,
        telemetry=True,
    )
    jaxpr = jax.make_jaxpr(lambda s, g: s.apply_gradients(grads=g))(state, params)
    assert jaxpr.effects == set()


def test_accumulate_steps_one_is_no_accumulation():
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=mlp_params(), tx=tsx.sgd(0.1), accumulate_steps=1
    )
    assert state.grad_accum is None and state.accumulate_steps is None


def _guide_example(optax, train_state, steps=3):
    # The usage guide's Flax TrainState section, verbatim apart from the model
    # and data definitions it leaves to the reader.
    class MyModel(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(nn.relu(nn.Dense(8)(x)))

    rng = jax.random.PRNGKey(0)
    input_data = jnp.ones((4, 5))

    class TrainState(train_state.TrainState):
        # Extend if you need extended state (e.g. batch stats)
        pass

    model = MyModel()
    params = model.init(rng, input_data)
    tx = optax.adam(1e-3)
    # 1. Create TrainState
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)

    # 2. Update Step
    def train_step(state, batch):
        def loss_fn(params):
            logits = state.apply_fn(params, batch["x"])
            loss = optax.softmax_cross_entropy_with_integer_labels(
                logits, batch["y"]
            ).mean()
            return loss

        grads = jax.grad(loss_fn)(state.params)
        # state.apply_gradients automatically calls tx.update() and
        # optax.apply_updates()
        return state.apply_gradients(grads=grads)

    for i in range(steps):
        state = train_step(state, regression_batch(i, n=4))
    return state


def test_usage_guide_flax_example_runs_unchanged():
    ours = _guide_example(tsx, tsx.training)
    ref = _guide_example(optax, flax_train_state)
    assert isinstance(ours, tsx.training.TrainState)
    assert int(ours.step) == ref.step == 3
    assert_trees_close(ours.params, ref.params, msg="params")


def test_flax_examples_style_subclass_with_required_fields():
    # The Flax examples redeclare ``batch_stats`` without a default and add
    # their own fields; both must still work on top of tsx's TrainState.
    class State(tsx.training.TrainState):
        batch_stats: Any
        dropout_key: jax.Array

    params = mlp_params()
    state = State.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.5),
        batch_stats={"m": jnp.zeros(2)},
        dropout_key=jax.random.PRNGKey(3),
    )
    g = jax.tree.map(jnp.ones_like, params)
    new = state.apply_gradients(grads=g, batch_stats={"m": jnp.ones(2)})
    np.testing.assert_array_equal(new.batch_stats["m"], np.ones(2))
    np.testing.assert_allclose(
        new.params["Dense_0"]["bias"], params["Dense_0"]["bias"] - 0.5, rtol=1e-6
    )
    assert new.dropout_key is state.dropout_key


def test_replace_and_extra_kwargs_like_flax():
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(0.1), ema_decay=0.5
    )
    g = jax.tree.map(jnp.zeros_like, params)
    new = state.apply_gradients(grads=g, ema=state.ema.replace(params=params))
    assert new.ema_params is params
    assert new.ema_decay == 0.5 and int(new.step) == 1
    # The flat names of earlier releases still replace, with a warning.
    with pytest.warns(DeprecationWarning, match=r"replace\(ema=state.ema"):
        old_style = state.apply_gradients(grads=g, ema_params=params)
    assert old_style.ema_params is params
    with pytest.raises(ValueError, match="no accumulation"):
        with pytest.warns(DeprecationWarning):
            state.replace(micro_step=jnp.asarray(1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ema_decay": 1.5}, ValueError, "ema_decay=1.5"),
        ({"ema_decay": -0.1}, ValueError, "ema_decay=-0.1"),
        ({"ema_decay": 0.9, "ema_every": 0}, ValueError, "ema_every=0"),
        ({"ema_every": 2}, ValueError, "ema_decay=None"),
        ({"ema_warmup": True}, ValueError, "ema_decay=None"),
        ({"ema_decay": 0.9, "ema_warmup": "yes"}, TypeError, "ema_warmup='yes'"),
        ({"accumulate_steps": 0}, ValueError, "accumulate_steps=0"),
        ({"accumulate_steps": 2.5}, TypeError, "accumulate_steps=2.5"),
        ({"loss_scale": 128.0}, TypeError, "loss_scale=128.0"),
        ({"skip_nonfinite": 1}, TypeError, "skip_nonfinite"),
        ({"telemetry": "yes"}, TypeError, "telemetry='yes'"),
    ],
)
def test_bad_configuration_fails_at_create(kwargs, error, match):
    with pytest.raises(error, match=f"TrainState.create: .*{match}"):
        tsx.training.TrainState.create(
            apply_fn=MLP().apply, params=mlp_params(), tx=tsx.sgd(0.1), **kwargs
        )


def test_repr_names_the_enabled_features_and_their_math():
    params = mlp_params()
    plain = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(0.1)
    )
    # Dense(5->4): 20 + 4, LayerNorm(4): 4 + 4, Dense(4->3): 12 + 3 = 47.
    assert repr(plain) == (
        "TrainState(step=0, params=6 arrays/47 elements, opt_state=0 arrays)"
    )
    full = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.1),
        ema_decay=0.99,
        accumulate_steps=4,
        loss_scale=tsx.training.DynamicLossScale(256.0),
    )
    text = repr(full)
    assert "ema(e <- d e + (1 - d) p over params, d=0.99" in text
    assert "accumulation(mean of k=4 micro-batches, count=0)" in text
    assert "guard(skipped_steps=0, loss_scale(S=256.0, good_steps=0))" in text


def test_fp8_overwrite_with_gradient_params_behave_like_flax():
    from flax.linen.fp8_ops import OVERWRITE_WITH_GRADIENT as OWG

    params = {"params": mlp_params(), OWG: {"amax": jnp.zeros(4)}}
    grads = {
        "params": jax.tree.map(jnp.ones_like, mlp_params()),
        OWG: {"amax": jnp.arange(4.0)},
    }
    ours = tsx.training.TrainState.create(
        apply_fn=None, params=params, tx=tsx.adam(1e-2), ema_decay=0.5
    ).apply_gradients(grads=grads)
    ref = flax_train_state.TrainState.create(
        apply_fn=None, params=params, tx=optax.adam(1e-2)
    ).apply_gradients(grads=grads)
    assert_trees_close(ours.params, ref.params)
    np.testing.assert_array_equal(ours.params[OWG]["amax"], np.arange(4.0))
    np.testing.assert_allclose(ours.ema_params[OWG]["amax"], 0.5 * np.arange(4.0))
