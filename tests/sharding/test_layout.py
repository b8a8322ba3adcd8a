"""The state-layout rule of tsx.sharding, checked leaf by leaf on one device."""

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import tsx

MESH8 = jax.sharding.AbstractMesh((4, 2), ("data", "model"))


@pytest.mark.parametrize(
    "spec,shape,want",
    [
        (P(), (6, 512), P(None, "data")),  # the largest dividing dimension
        (P(), (512, 512), P("data", None)),  # ties: the first
        (P(), (1024,), P("data")),
        (P(), (3, 5, 7, 11), P()),  # nothing divides by 4: replicated
        (P(), (8,), P()),  # below min_size
        (P("data", None), (256, 256), P("data", None)),  # FSDP already
        (P(None, "model"), (4, 512), P(None, ("model", "data"))),
        (P(None, "model"), (512, 2), P("data", "model")),  # 2 % (2*4) != 0
    ],
)
def test_zero_spec_picks_the_largest_dividing_dimension(spec, shape, want):
    assert tsx.sharding.zero_spec(spec, shape, MESH8, "data", min_size=256) == want


def test_state_shardings_follow_params_and_replicate_counters():
    mesh = jax.make_mesh((1,), ("data",))
    params = {
        "w": jax.device_put(
            jnp.zeros((256, 512)), NamedSharding(mesh, P(None, "data"))
        ),
        "b": jax.device_put(jnp.zeros((512,)), NamedSharding(mesh, P())),
    }
    tx = tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adafactor(1e-3))
    out = tsx.sharding.state_shardings(tx, params, zero_axis="data")
    flat = jax.tree_util.tree_flatten_with_path(out)[0]
    specs = {jax.tree_util.keystr(p): s.spec for p, s in flat}
    # The bias' full second moment follows the bias, then splits over "data";
    # the kernel's factored moments (256,) and (512,) split; its unused
    # full moment (a (1,) placeholder) and the counter stay replicated.
    assert specs["[1][0].v['b']"] == P("data")
    assert specs["[1][0].v_row['w']"] == P("data")
    assert specs["[1][0].v_col['w']"] == P("data")
    assert specs["[1][0].v['w']"] == P(None)
    assert specs["[1][0].count"] == P()
    unsplit = tsx.sharding.state_shardings(tx, params)
    assert jax.tree.leaves(unsplit)[0].spec == P()


def test_layout_errors_name_the_problem():
    params = {"w": jnp.zeros((4, 4))}
    with pytest.raises(ValueError, match="no mesh"):
        tsx.sharding.state_shardings(tsx.adam(1e-3), params)
    mesh = jax.make_mesh((1,), ("data",))
    placed = jax.device_put(params, NamedSharding(mesh, P()))
    with pytest.raises(ValueError, match="zero_axis='batch' is not an axis"):
        tsx.sharding.state_shardings(tsx.adam(1e-3), placed, zero_axis="batch")
    with pytest.raises(ValueError, match="param_shardings has 2 leaves"):
        tsx.sharding.state_shardings(
            tsx.adam(1e-3), placed, [NamedSharding(mesh, P())] * 2
        )
    with pytest.raises(ValueError, match="not an axis of the mesh"):
        with tsx.sharding.distribute_matrix_work(mesh, "model"):
            pass


def test_logical_shardings_map_linen_names_to_mesh_axes():
    import flax.linen as nn

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            init = nn.with_logical_partitioning(nn.initializers.ones, ("embed", "mlp"))
            w = self.param("w", init, (x.shape[-1], 8))
            return x @ w + self.param("b", nn.initializers.zeros, (8,))

    mesh = jax.make_mesh((1,), ("data",))
    abstract = jax.eval_shape(Model().init, jax.random.key(0), jnp.ones((2, 4)))
    out = tsx.sharding.logical_shardings(
        abstract["params"], mesh, [("embed", None), ("mlp", "data")]
    )
    assert out["w"].spec == P(None, "data")
    assert out["b"].spec == P()


def test_map_matrices_equals_the_function_on_each_matrix():
    keys = jax.random.split(jax.random.key(0), 5)
    shapes = [(4, 3)] * 3 + [(2, 5)] * 2
    mats = [jax.random.normal(k, s) for k, s in zip(keys, shapes, strict=True)]
    fn = lambda m, key: (m @ m.T) * (2.0 if key else 1.0)  # noqa: E731
    flags = [True, False, True, False, False]
    got = jax.jit(lambda ms: tsx.sharding.map_matrices(fn, ms, flags))(mats)
    for m, k, g in zip(mats, flags, got, strict=True):
        assert jnp.array_equal(g, fn(m, k))
    mesh = jax.make_mesh((1,), ("data",))
    with tsx.sharding.distribute_matrix_work(mesh, "data"):
        split = jax.jit(lambda ms: tsx.sharding.map_matrices(fn, ms, flags))(mats)
    for a, b in zip(got, split, strict=True):
        assert jnp.array_equal(a, b)
