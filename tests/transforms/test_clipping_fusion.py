"""``clip_by_global_norm``'s fused form: one scalar factor, folded by XLA into
the kernels that consume the clipped updates.

It must give Optax's numbers (within float32 rounding) alone and in front of
AdamW -- jitted, with a weight-decay mask, with a learning-rate schedule, and
with parameters sharded over 8 devices -- and the compiled step must not hold
a clipped copy of the gradients.
"""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.devices import run_with_cpu_devices
from tests.oracle import assert_trees_close, compare_with_optax, nested_params


def _decay_matrices(params):
    return jax.tree.map(lambda x: jnp.ndim(x) > 1, params)


@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "keeps"])
@pytest.mark.parametrize("mask", [None, _decay_matrices], ids=["no_mask", "mask_fn"])
def test_clip_then_adamw_matches_optax_jitted(max_norm, mask):
    compare_with_optax(
        lambda lib: lib.chain(
            lib.clip_by_global_norm(max_norm),
            lib.adamw(1e-2, weight_decay=1e-2, mask=mask),
        ),
        jit=True,
    )


def test_clip_then_adamw_with_a_schedule_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(
            lib.clip_by_global_norm(0.5),
            lib.adamw(lambda count: 0.1 * 0.9**count, weight_decay=1e-2),
        ),
        jit=True,
        steps=6,
    )


def test_clip_then_adamw_with_a_mask_tree_matches_optax():
    params = nested_params()
    mask = _decay_matrices(params)
    compare_with_optax(
        lambda lib: lib.chain(
            lib.clip_by_global_norm(0.5), lib.adamw(1e-2, weight_decay=0.1, mask=mask)
        ),
        params=params,
        jit=True,
    )


def test_clipped_updates_equal_the_per_element_formula():
    """The plain form ``(u / n) * max_norm``, in float64 by hand."""
    params = nested_params()
    g = jax.tree.map(lambda x: 3.0 * jnp.ones_like(x) + x, params)
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(g)]
    norm = np.sqrt(sum(float(np.sum(x * x)) for x in leaves))
    assert norm > 2.0
    out, _ = jax.jit(tsx.clip_by_global_norm(2.0).update)(g, tsx.EmptyState())
    for got, x in zip(jax.tree.leaves(out), leaves, strict=True):
        np.testing.assert_allclose(np.asarray(got), x / norm * 2.0, rtol=1e-6)
    clipped = np.sqrt(sum(float(np.sum(np.square(x))) for x in jax.tree.leaves(out)))
    np.testing.assert_allclose(clipped, 2.0, rtol=1e-6)


def test_kept_updates_are_returned_bit_for_bit():
    g = {"a": jnp.array([1e-30, -0.0, 3.0]), "b": jnp.array([[-2.5e-8]])}
    out, _ = jax.jit(tsx.clip_by_global_norm(10.0).update)(g, tsx.EmptyState())
    for got, want in zip(jax.tree.leaves(out), jax.tree.leaves(g), strict=True):
        np.testing.assert_array_equal(
            np.asarray(got).view(np.uint32), np.asarray(want).view(np.uint32)
        )


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf], ids=["nan", "inf"])
def test_non_finite_gradients_propagate_like_optax(bad):
    g = {"a": jnp.array([1.0, bad]), "b": jnp.array([2.0])}
    got, _ = tsx.clip_by_global_norm(1.0).update(g, tsx.EmptyState())
    want, _ = optax.clip_by_global_norm(1.0).update(g, optax.EmptyState())
    for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_array_equal(np.asarray(x)[~np.isnan(x)], y[~np.isnan(y)])


def test_bfloat16_updates_stay_bfloat16_and_close_to_optax():
    g = {"w": (jnp.arange(12.0).reshape(3, 4) - 5.0).astype(jnp.bfloat16)}
    got, _ = tsx.clip_by_global_norm(1.0).update(g, tsx.EmptyState())
    want, _ = optax.clip_by_global_norm(1.0).update(g, optax.EmptyState())
    assert got["w"].dtype == jnp.bfloat16
    # One bfloat16 rounding of the scale: relative 2**-8.
    assert_trees_close(got, want, rtol=2**-7, atol=0)


def test_array_max_norm_of_one_element_keeps_scalar_leaves_scalar():
    g = {"s": jnp.asarray(4.0), "v": jnp.array([3.0])}
    got, _ = tsx.clip_by_global_norm(jnp.array([1.0])).update(g, tsx.EmptyState())
    assert got["s"].shape == ()
    np.testing.assert_allclose(got["s"], 0.8, rtol=1e-6)
    np.testing.assert_allclose(got["v"], [0.6], rtol=1e-6)


def test_the_jitted_step_holds_no_clipped_copy_of_the_gradients():
    """A compile-time property: XLA's temporary buffers stay far below the
    gradients' size (a materialised clipped copy would need all of it)."""
    params = {f"w{i}": jnp.full((256, 256), 0.01 * (i + 1)) for i in range(4)}
    grad_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
    tx = tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(1e-3, weight_decay=1e-2))

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return tsx.apply_updates(params, updates), state

    state = tx.init(params)
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params)
    temp = compiled.compile().memory_analysis().temp_size_in_bytes
    assert temp < grad_bytes / 8, (temp, grad_bytes)


SHARDED_SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import optax, tsx

    mesh = jax.make_mesh((8,), ("x",))
    rows = NamedSharding(mesh, P("x"))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {
        "w": jax.device_put(jax.random.normal(keys[0], (16, 12)), rows),
        "b": jax.device_put(jax.random.normal(keys[1], (8,)), rows),
        "s": jax.device_put(jnp.asarray(0.3), NamedSharding(mesh, P())),
    }
    grads = jax.tree.map(lambda x: 2.0 * x + 1.0, params)
    out = {}
    for lib in (tsx, optax):
        tx = lib.chain(
            lib.clip_by_global_norm(0.5),
            lib.adamw(lambda c: 0.1 * 0.9**c, weight_decay=0.1,
                      mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        )
        state = tx.init(params)

        @jax.jit
        def step(p, s, g):
            u, s = tx.update(g, s, p)
            return lib.apply_updates(p, u), s

        p = params
        for i in range(3):
            p, state = step(p, state, jax.tree.map(lambda x: x * (i + 1), grads))
        out[lib.__name__] = {
            "values": {k: np.asarray(v).tolist() for k, v in p.items()},
            "specs": {k: str(v.sharding.spec) for k, v in p.items()},
            "mu_specs": {k: str(v.sharding.spec) for k, v in state[1][0].mu.items()},
        }
    print(json.dumps(out))
    """
)


def test_sharded_params_over_8_devices_match_optax():
    out = run_with_cpu_devices(SHARDED_SCRIPT, count=8)
    got, want = out["tsx"], out["optax"]
    for name in ("w", "b", "s"):
        np.testing.assert_allclose(
            got["values"][name], want["values"][name], rtol=1e-5, atol=1e-6
        )
    assert got["specs"] == want["specs"]
    assert got["specs"]["w"] in ("P('x',)", "P('x', None)")
    assert got["mu_specs"] == want["mu_specs"]
