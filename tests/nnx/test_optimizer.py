"""``tsx.nnx.Optimizer`` against the Linen ``TrainState`` on the same model.

The NNX model ``Linear -> tanh -> Linear`` and the plain params dict
``p`` of the same numbers are trained on the same batches; with every
feature the NNX optimizer must give the TrainState's params, EMA, skip
count, loss scale and telemetry bit for bit (it runs the same pieces).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import tsx
import tsx.nnx
from tests.devices import run_with_cpu_devices
from tsx.training import (
    DynamicLossScale,
    NonFiniteStateError,
    SpikeRule,
    TrainState,
)


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(6, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 2, rngs=rngs)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))


def _loss(p, x, y):
    h = jnp.tanh(x @ p["l1"]["kernel"] + p["l1"]["bias"])
    return jnp.mean((h @ p["l2"]["kernel"] + p["l2"]["bias"] - y) ** 2)


def _batches(n, nan_at=(), y_scale=1.0):
    rng = np.random.default_rng(0)
    for i in range(n):
        x = jnp.asarray(rng.normal(size=(8, 6)), jnp.float32)
        y = jnp.asarray(rng.normal(size=(8, 2)) * y_scale, jnp.float32)
        yield (x.at[0, 0].set(jnp.nan) if i in nan_at else x), y


def _assert_trees_equal(a, b):
    a, b = nnx.to_pure_dict(a) if isinstance(a, nnx.State) else a, b
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _train_both(features, tx, batches):
    model = MLP(nnx.Rngs(0))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    optimizer = tsx.nnx.Optimizer(model, tx, wrt=nnx.Param, **features)
    state = TrainState.create(apply_fn=None, params=params, tx=tx, **features)

    @nnx.jit
    def nnx_step(model, optimizer, x, y):
        loss_fn = lambda m: jnp.mean((m(x) - y) ** 2)  # noqa: E731
        loss, grads = optimizer.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @jax.jit
    def linen_step(state, x, y):
        loss, grads = state.value_and_grad(_loss, return_finite=False)(
            state.params, x, y
        )
        return state.apply_gradients(grads=grads), loss

    for x, y in batches:
        loss = nnx_step(model, optimizer, x, y)
        state, linen_loss = linen_step(state, x, y)
        np.testing.assert_array_equal(loss, linen_loss)
    return model, optimizer, state


def test_accumulation_guard_ema_telemetry_equal_train_state():
    features = dict(
        accumulate_steps=2,
        skip_nonfinite=True,
        ema_decay=0.9,
        ema_warmup=True,
        telemetry=True,
    )
    model, optimizer, state = _train_both(
        features, tsx.adamw(1e-2), _batches(9, nan_at={4})
    )
    _assert_trees_equal(nnx.state(model, nnx.Param), state.params)
    _assert_trees_equal(optimizer.ema_params, state.ema.params)
    assert int(optimizer.step[...]) == int(state.step) == 3
    assert int(optimizer.skipped_steps) == int(state.skipped_steps) == 1
    _assert_trees_equal(optimizer.telemetry, state.telemetry)
    # The averaged model evaluates with the EMA, the model itself is unchanged.
    averaged = optimizer.ema_model(model)
    _assert_trees_equal(nnx.state(averaged, nnx.Param), state.ema.params)
    _assert_trees_equal(nnx.state(model, nnx.Param), state.params)


def test_loss_scale_backs_off_as_in_train_state():
    # 2^126 * loss overflows float32 (max ~2^128) for a loss of ~10^4: the
    # first steps are refused and the scale halves until it is finite.
    features = dict(loss_scale=DynamicLossScale(initial_scale=2.0**126))
    model, optimizer, state = _train_both(
        features, tsx.sgd(1e-4), _batches(12, y_scale=100.0)
    )
    assert int(optimizer.skipped_steps) == int(state.skipped_steps) > 0
    assert float(optimizer.loss_scale.scale) == float(state.loss_scale.scale)
    assert float(optimizer.loss_scale.scale) < 2.0**126
    _assert_trees_equal(nnx.state(model, nnx.Param), state.params)


def test_spike_rule_on_the_loss_refuses_what_train_state_refuses():
    rule = SpikeRule(window=4, threshold=10.0, metric="loss")
    model = MLP(nnx.Rngs(0))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    tx = tsx.sgd(1e-2)
    optimizer = tsx.nnx.Optimizer(model, tx, wrt=nnx.Param, skip_spikes=rule)
    state = TrainState.create(apply_fn=None, params=params, tx=tx, skip_spikes=rule)

    @nnx.jit
    def nnx_step(model, optimizer, x, y, boost):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads, loss=loss * boost)

    @jax.jit
    def linen_step(state, x, y, boost):
        loss, grads = jax.value_and_grad(_loss)(state.params, x, y)
        return state.apply_gradients(grads=grads, loss=loss * boost)

    for i, (x, y) in enumerate(_batches(8)):
        boost = 50.0 if i == 6 else 1.0  # the loss spikes; the gradient does not
        nnx_step(model, optimizer, x, y, boost)
        state = linen_step(state, x, y, boost)
    assert int(optimizer.skipped_steps) == int(state.skipped_steps) == 1
    _assert_trees_equal(nnx.state(model, nnx.Param), state.params)


def test_extra_update_arguments_reach_the_optimizer():
    # Polyak's step size needs the loss: (f - f*) / ||g||^2 with f* = 0.
    model = MLP(nnx.Rngs(0))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    tx = tsx.polyak_sgd(max_learning_rate=1.0)
    optimizer = tsx.nnx.Optimizer(model, tx, wrt=nnx.Param)
    ((x, y),) = _batches(1)
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    optimizer.update(model, grads, value=loss)
    g = jax.grad(_loss)(params, x, y)
    step = _loss(params, x, y) / tsx.tree_utils.tree_norm(g, squared=True)
    expected = jax.tree.map(lambda p, d: p - jnp.minimum(step, 1.0) * d, params, g)
    for u, v in zip(
        jax.tree.leaves(nnx.to_pure_dict(nnx.state(model, nnx.Param))),
        jax.tree.leaves(expected),
        strict=True,
    ):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_errors_name_the_argument_and_the_path():
    model = MLP(nnx.Rngs(0))
    with pytest.raises(ValueError, match="ema_decay"):
        tsx.nnx.Optimizer(model, tsx.sgd(0.1), wrt=nnx.Param, ema_decay=1.5)
    optimizer = tsx.nnx.Optimizer(model, tsx.sgd(0.1), wrt=nnx.Param)
    with pytest.raises(ValueError, match="ema_decay="):
        optimizer.ema_model(model)
    model.l2.bias[...] = jnp.array([0.0, jnp.inf])
    with pytest.raises(NonFiniteStateError, match=r"\['l2'\]\['bias'\]"):
        optimizer.check_finite(model)


ZERO_AND_CHECKPOINT = """
import json, tempfile
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from flax import nnx
import tsx, tsx.nnx
from tsx.training import CheckpointManager, TrainState

class MLP(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(16, 64, rngs=rngs)
        self.l2 = nnx.Linear(64, 8, rngs=rngs)
    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))

def loss(p, x, y):
    h = jnp.tanh(x @ p["l1"]["kernel"] + p["l1"]["bias"])
    return jnp.mean((h @ p["l2"]["kernel"] + p["l2"]["bias"] - y) ** 2)

mesh = jax.make_mesh((8,), ("data",))  # Explicit axes
replicated = NamedSharding(mesh, P())
features = dict(accumulate_steps=2, skip_nonfinite=True, ema_decay=0.9,
                zero_axis="data")

def create(seed):
    model = MLP(nnx.Rngs(seed))
    nnx.update(model, jax.device_put(nnx.state(model), replicated))
    return model, tsx.nnx.Optimizer(model, tsx.adamw(1e-2), wrt=nnx.Param,
                                    **features)

with jax.set_mesh(mesh):
    model, optimizer = create(0)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    state = TrainState.create(apply_fn=None, params=params, tx=tsx.adamw(1e-2),
                              **features)

    @nnx.jit
    def nnx_step(model, optimizer, x, y):
        optimizer.update(model, nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model))

    @jax.jit
    def linen_step(state, x, y):
        return state.apply_gradients(grads=jax.grad(loss)(state.params, x, y))

    rng = np.random.default_rng(0)
    for i in range(6):
        x = jnp.asarray(rng.normal(size=(32, 16)), jnp.float32)
        y = jnp.asarray(rng.normal(size=(32, 8)), jnp.float32)
        x = x.at[0, 0].set(jnp.nan) if i == 2 else x
        nnx_step(model, optimizer, x, y)
        state = linen_step(state, x, y)

def same(a, b):
    a, b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(a) == len(b) and all(
        np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a, b))

mu = optimizer.opt_state[0].mu["l1"]["kernel"][...]
out = dict(
    params=same(nnx.to_pure_dict(nnx.state(model, nnx.Param)), state.params),
    ema=same(nnx.to_pure_dict(optimizer.ema_params), state.ema.params),
    skipped=[int(optimizer.skipped_steps), int(state.skipped_steps)],
    shard_fraction=mu.addressable_shards[0].data.size / mu.size,
)
with tempfile.TemporaryDirectory() as directory:
    with CheckpointManager(directory, async_save=False) as ckpt:
        ckpt.save(int(optimizer.step[...]), nnx.state((model, optimizer)))
    with jax.set_mesh(mesh):
        fresh, fresh_optimizer = create(1)
    with CheckpointManager(directory) as ckpt:
        both = (fresh, fresh_optimizer)
        nnx.update(both, ckpt.restore(nnx.state(both)))
    saved = jax.tree.leaves(nnx.state((model, optimizer)))
    restored = jax.tree.leaves(nnx.state((fresh, fresh_optimizer)))
    out["restored_exact"] = same(saved, restored)
    out["restored_sharded"] = all(
        u.sharding.is_equivalent_to(v.sharding, u.ndim)
        for u, v in zip(saved, restored))
# tsx.sharding on an NNX state: a kernel split on its columns, a bias.
with jax.set_mesh(mesh):
    layer = nnx.Linear(16, 64, rngs=nnx.Rngs(0))
    layer.kernel.set_value(
        jax.device_put(layer.kernel[...], NamedSharding(mesh, P(None, "data"))))
    layer.bias.set_value(
        jax.device_put(layer.bias[...], NamedSharding(mesh, P("data"))))
params = nnx.state(layer, nnx.Param)
tx = tsx.contrib.muon(1e-2)
expected = jax.tree.leaves(tsx.sharding.state_shardings(tx, params))
created = jax.tree.leaves(tsx.sharding.init(tx, params))
out["state_shardings"] = len(expected) == len(created) and all(
    x.sharding.is_equivalent_to(s, x.ndim) for x, s in zip(created, expected))
out["momentum_spec"] = [str(x.sharding.spec) for x in created if x.shape == (16, 64)]
print(json.dumps(out))
"""


def test_zero_axis_and_checkpoint_on_8_devices():
    out = run_with_cpu_devices(ZERO_AND_CHECKPOINT)
    assert out["params"] and out["ema"], out
    assert out["skipped"] == [1, 1]
    assert out["shard_fraction"] == 1 / 8  # the moments are split (ZeRO-1)
    assert out["restored_exact"] and out["restored_sharded"], out
    # tsx.sharding.state_shardings and init take NNX states.
    assert out["state_shardings"], out
    assert out["momentum_spec"] == ["P(None, 'data')"], out
