"""Clipping transformations against Optax: numerics in a chain and under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, compare_with_optax, nested_params


@pytest.mark.parametrize(
    "make_clip",
    [
        lambda lib: lib.clip(0.3),
        lambda lib: lib.clip_by_global_norm(0.5),  # clips every step
        lambda lib: lib.clip_by_global_norm(1e3),  # never clips
        lambda lib: lib.clip_by_block_rms(0.2),
        lambda lib: lib.adaptive_grad_clip(0.05),
        lambda lib: lib.adaptive_grad_clip(0.5, eps=0.1),
    ],
    ids=["clip", "global_norm", "global_norm_noop", "block_rms", "agc", "agc_eps"],
)
def test_clipping_in_chain_matches_optax(make_clip):
    compare_with_optax(lambda lib: lib.chain(make_clip(lib), lib.adam(1e-2)), jit=True)


def test_clip_by_global_norm_caps_the_norm_by_hand():
    g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}  # norm 5
    out, _ = tsx.clip_by_global_norm(1.0).update(g, tsx.EmptyState())
    np.testing.assert_allclose(out["a"], [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out["b"], [[0.8]], rtol=1e-6)
    same, _ = tsx.clip_by_global_norm(6.0).update(g, tsx.EmptyState())
    assert_trees_close(same, g, rtol=0, atol=0)


def test_adaptive_grad_clip_explicit_axis_matches_optax():
    key = jax.random.PRNGKey(3)
    params = {
        "w": jax.random.normal(key, (3, 5)),
        "v": jax.random.normal(jax.random.fold_in(key, 1), (2, 5)),
    }
    compare_with_optax(lambda lib: lib.adaptive_grad_clip(0.02, axis=1), params=params)


def test_complex_updates_clip_like_optax():
    params = {"z": jnp.array([1 + 2j, -0.5j, 3.0], jnp.complex64)}
    for make in (
        lambda lib: lib.clip_by_global_norm(0.5),
        lambda lib: lib.clip_by_block_rms(0.1),
    ):
        compare_with_optax(make, params=params)


@pytest.mark.parametrize(
    "shape", [(), (7,), (1, 7), (4, 3), (2, 3, 4), (2, 2, 3, 4), (2, 2, 2, 3, 2)]
)
def test_unitwise_norm_default_axes_match_optax(shape):
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    np.testing.assert_allclose(
        tsx.unitwise_norm(x), optax.transforms.unitwise_norm(x), rtol=1e-6
    )


def test_unitwise_norm_explicit_axis_and_bad_rank():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 2, 2, 2, 2, 3))
    np.testing.assert_allclose(
        tsx.unitwise_norm(x, axis=(0, 5)),
        optax.transforms.unitwise_norm(x, axis=(0, 5)),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="axis"):
        tsx.unitwise_norm(x)


def test_unitwise_clip_matches_optax_and_checks_shapes():
    g = jax.random.normal(jax.random.PRNGKey(1), (4, 3))
    g_norm = tsx.unitwise_norm(g)
    max_norm = jnp.full((4, 3), 1.5)
    np.testing.assert_allclose(
        tsx.unitwise_clip(g_norm, max_norm, g),
        optax.transforms.unitwise_clip(g_norm, max_norm, g),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="max_norm"):
        tsx.unitwise_clip(g_norm, jnp.ones((3,)), g)


def _batch_grads():
    key = jax.random.PRNGKey(5)
    return {
        "w": jax.random.normal(key, (6, 3, 2)) * 2.0,
        "b": jax.random.normal(jax.random.fold_in(key, 1), (6, 2)),
        "z": jnp.zeros((6, 4)),
    }


@pytest.mark.parametrize("clip", [0.0, 0.7, 2.5, float("inf")])
def test_per_example_global_norm_clip_matches_optax(clip):
    g = _batch_grads()
    got = tsx.per_example_global_norm_clip(g, clip)
    want = optax.per_example_global_norm_clip(g, clip)
    assert_trees_close(got[0], want[0])
    assert int(got[1]) == int(want[1])


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("clip", [0.0, 1.3, float("inf")])
def test_per_example_layer_norm_clip_matches_optax(clip, uniform):
    g = _batch_grads()
    got = tsx.per_example_layer_norm_clip(g, clip, uniform=uniform)
    want = optax.per_example_layer_norm_clip(g, clip, uniform=uniform)
    assert_trees_close(got[0], want[0])
    assert jax.tree.map(int, got[1]) == jax.tree.map(int, want[1])


def test_per_example_clip_needs_a_batch_axis():
    bad = {"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}
    with pytest.raises(ValueError, match="batch"):
        tsx.per_example_global_norm_clip(bad, 1.0)
    with pytest.raises(ValueError, match="batch"):
        tsx.per_example_layer_norm_clip(bad, 1.0)


def test_state_aliases_are_empty_state():
    for name in ("ClipState", "ClipByGlobalNormState", "AdaptiveGradClipState"):
        assert getattr(tsx, name) is tsx.EmptyState
        assert getattr(optax, name) is optax.EmptyState


def test_adaptive_grad_clip_needs_params():
    tx = tsx.adaptive_grad_clip(0.1)
    params = nested_params()
    with pytest.raises(ValueError, match="params"):
        tx.update(params, tx.init(params))


@pytest.mark.parametrize(
    "build,arg",
    [
        (lambda: tsx.clip(-1.0), "max_delta"),
        (lambda: tsx.clip_by_global_norm(-0.5), "max_norm"),
        (lambda: tsx.clip_by_block_rms(0.0), "threshold"),
        (lambda: tsx.adaptive_grad_clip(-0.1), "clipping"),
        (lambda: tsx.adaptive_grad_clip(0.1, eps=-1.0), "eps"),
        (lambda: tsx.per_example_global_norm_clip(_batch_grads(), -1.0), "l2_norm"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, arg):
    with pytest.raises(ValueError, match=arg):
        build()
