"""Dynamic loss scaling and skipping of non-finite steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.training.models import (
    MLP,
    ConvBN,
    convbn_variables,
    cross_entropy,
    image_batch,
    mlp_params,
    regression_batch,
)

DLS = tsx.training.DynamicLossScale

# Shared across tests so that one compilation serves every parametrization.
_apply_with_stats = jax.jit(lambda s, g, b: s.apply_gradients(grads=g, batch_stats=b))


def _equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(la, lb, strict=True)
    )


def test_adjust_follows_the_backoff_and_growth_rules():
    ls = DLS(
        8.0, growth_factor=4.0, growth_interval=3, backoff_factor=0.25, min_scale=1.0
    )
    seen = []
    for finite in [True, True, True, True, False, False, False, True]:
        ls = ls.adjust(finite)
        seen.append((float(ls.scale), int(ls.good_steps)))
    assert seen == [
        (8.0, 1),
        (8.0, 2),
        (32.0, 0),  # three finite steps in a row: grow by 4
        (32.0, 1),
        (8.0, 0),  # overflow: back off by 4
        (2.0, 0),
        (1.0, 0),  # clamped at min_scale
        (1.0, 1),
    ]


def test_growth_never_reaches_infinity():
    ls = DLS(2.0**127, growth_interval=1).adjust(True)
    assert float(ls.scale) == 2.0**127


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial_scale": 0.0}, "initial_scale=0.0"),
        ({"growth_factor": 0.5}, "growth_factor=0.5"),
        ({"growth_interval": 0}, "growth_interval=0"),
        ({"backoff_factor": 0.0}, "backoff_factor=0.0"),
        ({"backoff_factor": 1.5}, "backoff_factor=1.5"),
        ({"min_scale": -1.0}, "min_scale=-1.0"),
    ],
)
def test_bad_hyperparameters_fail_when_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DLS(**kwargs)


def test_value_and_grad_unscales_and_returns_the_unscaled_loss():
    params, batch, model = mlp_params(), regression_batch(0), MLP()

    def loss_fn(p, x, y):
        logits = model.apply({"params": p}, x)
        return cross_entropy(logits, y), logits

    ls = DLS(2.0**15)
    (loss, logits), grads, finite = jax.jit(
        ls.value_and_grad(loss_fn, has_aux=True, return_finite=True)
    )(params, batch["x"], batch["y"])
    (ref_loss, ref_logits), ref_grads = jax.jit(
        jax.value_and_grad(loss_fn, has_aux=True)
    )(params, batch["x"], batch["y"])
    assert bool(finite)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-6)
    # A power-of-two scale commutes with rounding; only fusion order differs.
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # argnums and the plain (unscaled) helper.
    _, gx, finite = jax.jit(
        tsx.training.value_and_grad(
            lambda p, x: loss_fn(p, x, batch["y"])[0], argnums=1, return_finite=True
        )
    )(params, batch["x"])
    ref_gx = jax.jit(jax.grad(lambda x: loss_fn(params, x, batch["y"])[0]))(batch["x"])
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-5, atol=1e-7)
    assert bool(finite)


def test_float16_overflow_is_skipped_backs_off_then_grows_after_the_interval():
    model = ConvBN(dtype=jnp.float16)
    variables = convbn_variables()
    state = tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=tsx.adam(1e-2),
        ema_decay=0.9,
        loss_scale=DLS(2.0**20, growth_interval=2, backoff_factor=2.0**-10),
        telemetry=True,
    )

    @jax.jit
    def train_step(state, batch):
        def loss_fn(params):
            logits, upd = state.apply_fn(
                {"params": params, "batch_stats": state.batch_stats},
                batch["x"],
                mutable=["batch_stats"],
            )
            return cross_entropy(logits, batch["y"]), upd["batch_stats"]

        (_, stats), grads, finite = state.value_and_grad(
            loss_fn, has_aux=True, return_finite=True
        )(state.params)
        new = state.apply_gradients(grads=grads, batch_stats=stats)
        return new, finite, new.telemetry

    # Scale 2**20: the logits' cotangent S * (softmax - onehot) / 4 exceeds
    # float16's 65504, so the first step overflows.
    before = state
    state, finite, telemetry = train_step(state, image_batch(0))
    assert not bool(finite)
    assert not bool(state.update_applied)
    assert int(state.skipped_steps) == 1 and int(state.step) == 0
    assert float(state.loss_scale.scale) == 2.0**10
    assert float(telemetry["loss_scale"]) == 2.0**20
    for name in ("params", "opt_state", "ema_params", "batch_stats", "ema_batch_stats"):
        assert _equal(getattr(state, name), getattr(before, name)), name

    scales = []
    for i in range(1, 6):
        state, finite, _ = train_step(state, image_batch(i))
        assert bool(finite) and bool(state.update_applied), i
        scales.append(float(state.loss_scale.scale))
    # Two finite steps per growth: 2**10 -> 2**11 -> 2**12.
    assert scales == [2.0**10, 2.0**11, 2.0**11, 2.0**12, 2.0**12]
    assert int(state.step) == 5 and int(state.skipped_steps) == 1
    assert not _equal(state.params, before.params)


def test_scaled_float16_grads_match_unscaled_ones():
    model = ConvBN(dtype=jnp.float16)
    variables = convbn_variables()
    batch = image_batch(7)

    def loss_fn(params):
        logits, _ = model.apply(
            {"params": params, "batch_stats": variables["batch_stats"]},
            batch["x"],
            mutable=["batch_stats"],
        )
        return cross_entropy(logits, batch["y"])

    _, grads, finite = jax.jit(
        DLS(2.0**10).value_and_grad(loss_fn, return_finite=True)
    )(variables["params"])
    ref = jax.jit(jax.grad(loss_fn))(variables["params"])
    assert bool(finite)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_skip_nonfinite_leaves_everything_untouched(bad):
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.adam(1e-2),
        batch_stats={"m": jnp.zeros(3)},
        ema_decay=0.5,
        skip_nonfinite=True,
    )
    good = jax.tree.map(jnp.ones_like, params)
    poisoned = jax.tree.map(lambda g: g, good)
    poisoned["Dense_1"]["bias"] = poisoned["Dense_1"]["bias"].at[1].set(bad)
    step = _apply_with_stats

    state = step(state, good, {"m": jnp.ones(3)})
    before = state
    state = step(state, poisoned, {"m": jnp.full(3, 7.0)})
    for name in ("step", "params", "opt_state", "ema_params", "batch_stats"):
        assert _equal(getattr(state, name), getattr(before, name)), name
    assert int(state.skipped_steps) == 1 and not bool(state.update_applied)
    state = step(state, good, {"m": jnp.full(3, 2.0)})
    assert int(state.step) == 2 and bool(state.update_applied)
    np.testing.assert_array_equal(state.batch_stats["m"], np.full(3, 2.0))
    assert int(state.skipped_steps) == 1


def test_overflow_in_a_micro_batch_skips_the_window_and_backs_off_once():
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.1),
        accumulate_steps=2,
        loss_scale=DLS(2.0**8, growth_interval=100),
    )
    good = jax.tree.map(jnp.ones_like, params)
    inf = jax.tree.map(lambda g: g * jnp.inf, good)
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))

    state = step(state, inf)  # micro-step: nothing decided yet
    assert float(state.loss_scale.scale) == 2.0**8 and int(state.skipped_steps) == 0
    state = step(state, good)  # window complete, its mean is not finite
    assert float(state.loss_scale.scale) == 2.0**7
    assert int(state.skipped_steps) == 1 and int(state.step) == 0
    assert _equal(state.params, params)
    assert all(not np.any(x) for x in jax.tree.leaves(state.grad_accum))
    state = step(step(state, good), good)
    assert int(state.step) == 1 and int(state.skipped_steps) == 1
    np.testing.assert_allclose(
        state.params["Dense_0"]["bias"], params["Dense_0"]["bias"] - 0.1, rtol=1e-6
    )


def test_value_and_grad_returns_what_jax_value_and_grad_returns():
    params, batch, model = mlp_params(), regression_batch(1), MLP()

    def loss_fn(p):
        return cross_entropy(model.apply({"params": p}, batch["x"]), batch["y"])

    loss, grads = DLS(2.0**8).value_and_grad(loss_fn, return_finite=False)(params)
    ref_loss, ref_grads = jax.value_and_grad(loss_fn)(params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # Without return_finite the flag is still there, for one release.
    with pytest.warns(DeprecationWarning, match="return_finite=False"):
        out = DLS(2.0**8).value_and_grad(loss_fn)(params)
    assert len(out) == 3 and bool(out[2])
