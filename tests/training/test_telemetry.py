"""Per-step telemetry: norms before clipping, learning rate, loss scale, skips."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from clu import metric_writers

import tsx
from tests.training.models import MLP, mlp_params


def _known_grads(params, step):
    rng = np.random.default_rng(step)
    return jax.tree.map(
        lambda p: (3.0 * rng.normal(size=p.shape)).astype(np.float32), params
    )


def _norm(tree):
    return np.sqrt(
        sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(tree))
    )


def test_norms_before_clipping_and_injected_learning_rate_match_optax():
    params = mlp_params()
    schedule = lambda count: 0.1 * 0.5**count  # noqa: E731

    def make(lib):
        return lib.chain(
            lib.clip_by_global_norm(0.5),
            lib.inject_hyperparams(lib.sgd)(learning_rate=schedule, momentum=0.0),
        )

    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=make(tsx), telemetry=True
    )
    ref_tx = make(optax)
    ref_state, ref_params = ref_tx.init(params), params
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    for i in range(3):
        g = _known_grads(params, i)
        state = step(state, g)
        telemetry = state.telemetry
        updates, ref_state = ref_tx.update(g, ref_state, ref_params)
        ref_params = optax.apply_updates(ref_params, updates)
        assert set(telemetry) == {"grad_norm", "update_norm", "learning_rate"}
        assert _norm(g) > 0.5  # so clipping is active and must not be reported
        np.testing.assert_allclose(telemetry["grad_norm"], _norm(g), rtol=1e-5)
        np.testing.assert_allclose(telemetry["update_norm"], _norm(updates), rtol=1e-5)
        np.testing.assert_allclose(
            telemetry["update_norm"], schedule(i) * 0.5, rtol=1e-5
        )
        np.testing.assert_allclose(telemetry["learning_rate"], schedule(i), rtol=1e-6)
        np.testing.assert_allclose(
            telemetry["learning_rate"],
            ref_state[1].hyperparams["learning_rate"],
            rtol=1e-6,
        )


def test_learning_rate_is_found_inside_parameter_groups():
    params = mlp_params()
    tx = tsx.masks.param_groups(
        tsx.inject_hyperparams(tsx.adamw),
        {r"LayerNorm_0/.*": dict(frozen=True)},
        learning_rate=0.25,
        weight_decay=1e-4,
    )
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tx, telemetry=True
    )
    telemetry = state.apply_gradients(grads=_known_grads(params, 0)).telemetry
    np.testing.assert_allclose(telemetry["learning_rate"], 0.25)
    assert tsx.training.find_hyperparam(state.opt_state, "weight_decay") is not None
    assert tsx.training.find_hyperparam(state.opt_state, "b3") is None


def test_loss_scale_skips_and_update_flags_are_reported_and_writable():
    params = mlp_params()
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.1),
        accumulate_steps=2,
        loss_scale=tsx.training.DynamicLossScale(2.0**4, growth_interval=10),
        telemetry=True,
    )
    good = _known_grads(params, 1)
    bad = jax.tree.map(lambda g: g * np.nan, good)
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    seen = []
    for g in (good, good, bad, good):
        state = step(state, g)
        seen.append(jax.device_get(state.telemetry))
    assert set(seen[0]) == {
        "grad_norm",
        "update_norm",
        "loss_scale",
        "skipped_steps",
        "update_applied",
    }
    assert [int(t["update_applied"]) for t in seen] == [0, 1, 0, 0]
    assert [int(t["skipped_steps"]) for t in seen] == [0, 0, 0, 1]
    assert [float(t["loss_scale"]) for t in seen] == [16.0, 16.0, 16.0, 16.0]
    assert float(state.loss_scale.scale) == 8.0  # the scale for the next step
    assert float(seen[0]["update_norm"]) == 0.0
    np.testing.assert_allclose(seen[1]["update_norm"], 0.1 * _norm(good), rtol=1e-5)
    assert not np.isfinite(seen[3]["grad_norm"])

    writer = metric_writers.LoggingWriter()
    for i, t in enumerate(seen):
        writer.write_scalars(i, t)
    writer.flush()
    # Every value is a scalar a writer can turn into a float.
    assert all(
        np.ndim(v) == 0 and isinstance(float(v), float)
        for t in seen
        for v in t.values()
    )


def test_deprecated_global_norm_is_the_tree_norm():
    with pytest.warns(DeprecationWarning, match="tree_norm"):
        assert float(tsx.training.global_norm({})) == 0.0
    with pytest.warns(DeprecationWarning):
        assert float(tsx.training.global_norm({"a": jnp.array([3.0, 4.0])})) == 5.0


def test_telemetry_is_a_field_with_a_fixed_structure_and_return_telemetry_warns():
    params = mlp_params()
    plain = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(0.1)
    )
    assert plain.telemetry is None  # off: no leaves
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(0.1), telemetry=True
    )
    before = jax.tree.structure(state)
    g = _known_grads(params, 2)
    after = state.apply_gradients(grads=g)
    assert jax.tree.structure(after) == before  # jit and donation need this
    with pytest.warns(DeprecationWarning, match="telemetry=True"):
        old, scalars = state.apply_gradients(grads=g, return_telemetry=True)
    np.testing.assert_allclose(scalars["grad_norm"], after.telemetry["grad_norm"])
    np.testing.assert_allclose(scalars["grad_norm"], _norm(g), rtol=1e-5)
