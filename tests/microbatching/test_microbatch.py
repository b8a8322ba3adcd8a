"""microbatch and reshape_batch_axis against optax.microbatching and by hand."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close

LIBS = [tsx.microbatching, optax.microbatching]


def _data(batch=12):
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return {
        "x": jax.random.normal(k1, (batch, 3)),
        "y": jax.random.normal(k2, (batch,)),
    }


def _fun(scale, data, *, shift):
    # Per-row values, a scalar sum, and a nested dict of reductions.
    rows = data["x"].sum(axis=1) * scale + data["y"] + shift.mean()
    return {"rows": rows, "total": rows.sum(), "stats": {"sq": (rows**2).sum()}}


def _run(lib, accumulator, **kwargs):
    data = _data()
    shift = jnp.arange(12.0)
    f = lib.microbatch(
        _fun,
        argnums=1,
        microbatch_size=4,
        accumulator=accumulator(lib.AccumulationType),
        argnames="shift",
        **kwargs,
    )
    return jax.jit(f)(2.0, data, shift=shift)


@pytest.mark.parametrize(
    "accumulator",
    [
        lambda T: T.SUM,
        lambda T: T.MEAN,
        lambda T: T.RUNNING_MEAN,
        lambda T: {"rows": T.CONCAT, "total": T.SUM, "stats": T.MEAN},
    ],
)
def test_matches_optax(accumulator):
    ours, theirs = (_run(lib, accumulator) for lib in LIBS)
    assert_trees_close(ours, theirs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)


def test_results_by_hand():
    data, shift = _data(), jnp.arange(12.0)
    T = tsx.microbatching.AccumulationType
    spec = {"rows": T.CONCAT, "total": T.SUM, "stats": T.MEAN}
    out = tsx.microbatching.microbatch(_fun, 1, 4, spec, argnames="shift")(
        2.0, data, shift=shift
    )
    # Each microbatch sees a third of the shift vector; its mean differs, so
    # compare against the same split done by hand (rows i, i+3, i+6, i+9).
    groups = [np.arange(i, 12, 3) for i in range(3)]
    parts = [
        _fun(2.0, jax.tree.map(lambda a, g=g: a[g], data), shift=shift[g])
        for g in groups
    ]
    rows = np.empty(12, np.float32)
    for g, part in zip(groups, parts, strict=True):
        rows[g] = part["rows"]
    np.testing.assert_allclose(out["rows"], rows, rtol=1e-6)
    np.testing.assert_allclose(out["total"], sum(p["total"] for p in parts), rtol=1e-5)
    np.testing.assert_allclose(
        out["stats"]["sq"], np.mean([p["stats"]["sq"] for p in parts]), rtol=1e-5
    )
    # Without a per-microbatch dependence, SUM reproduces the full batch.
    total = tsx.microbatching.microbatch(lambda d: d["y"].sum(), 0, 3)(data)
    np.testing.assert_allclose(total, data["y"].sum(), rtol=1e-5)


def test_in_axes_and_several_batch_args_match_optax():
    a = jnp.arange(24.0).reshape(3, 8)  # batch axis 1
    b = jnp.arange(8.0) * 0.5  # batch axis 0

    def f(a, b):
        return (a * b).sum(axis=0)

    outs = [
        jax.jit(
            lib.microbatch(
                f,
                argnums=(0, 1),
                microbatch_size=2,
                accumulator=lib.AccumulationType.CONCAT,
                in_axes=(1, 0),
            )
        )(a, b)
        for lib in LIBS
    ]
    assert_trees_close(*outs)
    np.testing.assert_allclose(outs[0], f(a, b))


def test_custom_accumulator_matches_optax():
    outs = []
    for lib in LIBS:
        running_max = lib.Accumulator(
            init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
            update=lambda carry, value, _: jnp.maximum(carry, value),
            finalize=lambda carry: carry,
            aggregate=lambda values: values.max(axis=0),
        )
        f = lib.microbatch(lambda d: d["x"].max(axis=0), 0, 3, running_max)
        outs.append(f(_data()))
    assert_trees_close(*outs)
    np.testing.assert_allclose(outs[0], _data()["x"].max(axis=0))


def test_num_real_microbatches_matches_optax_and_stops_early():
    data = _data()
    outs = []
    for lib in LIBS:
        T = lib.AccumulationType
        f = lib.microbatch(
            lambda d: (d["y"].sum(), d["y"].mean(), d["y"]),
            argnums=0,
            microbatch_size=2,
            accumulator=(T.SUM, T.RUNNING_MEAN, T.CONCAT),
            num_real_microbatches=jnp.asarray(4),
        )
        outs.append(jax.jit(f)(data))
    assert_trees_close(*outs)
    # 6 microbatches of rows {i, i+6}; the first 4 ran.
    y = np.asarray(data["y"])
    used = np.concatenate([[i, i + 6] for i in range(4)])
    np.testing.assert_allclose(outs[0][0], y[used].sum(), rtol=1e-5)
    np.testing.assert_allclose(outs[0][1], y[used].mean(), rtol=1e-5)


def test_none_microbatch_size_returns_fun():
    f = lambda x: x  # noqa: E731
    assert tsx.microbatching.microbatch(f, 0, None) is f


def test_reshape_batch_axis_matches_optax():
    tree = {"a": jnp.arange(12.0), "b": jnp.arange(36).reshape(3, 12)}
    for axis, leaf in [(0, "a"), (1, "b")]:
        ours = tsx.microbatching.reshape_batch_axis(tree[leaf], 4, axis)
        theirs = optax.microbatching.reshape_batch_axis(tree[leaf], 4, axis)
        np.testing.assert_array_equal(ours, theirs)
    split = tsx.microbatching.reshape_batch_axis(jnp.arange(12), 4)
    # Microbatch i holds rows i, i + 3, i + 6, i + 9.
    np.testing.assert_array_equal(split[1], [1, 4, 7, 10])


def test_accumulation_type_members_match_optax():
    ours = [(m.name, m.value) for m in tsx.microbatching.AccumulationType]
    theirs = [(m.name, m.value) for m in optax.microbatching.AccumulationType]
    assert ours == theirs
    fields = [f.name for f in dataclasses.fields(tsx.microbatching.Accumulator)]
    assert fields == [
        f.name for f in dataclasses.fields(optax.microbatching.Accumulator)
    ]


def test_errors():
    mb = tsx.microbatching
    with pytest.raises(ValueError, match="microbatch_size"):
        mb.microbatch(lambda x: x, 0, 0)
    with pytest.raises(ValueError, match="in_axes"):
        mb.microbatch(lambda x, y: x, (0, 1), 2, in_axes=(0,))
    with pytest.raises(ValueError, match="divisible"):
        mb.microbatch(lambda x: x.sum(), 0, 5)(jnp.ones(12))
    with pytest.raises(ValueError, match="equal-size"):
        mb.microbatch(lambda x, y: x.sum(), (0, 1), 2)(jnp.ones(4), jnp.ones(6))
    with pytest.raises(ValueError, match="floating-point"):
        mb.microbatch(lambda x: x.sum(), 0, 2, mb.AccumulationType.MEAN)(
            jnp.ones(4, jnp.int32)
        )
    with pytest.raises(ValueError, match="accumulator"):
        mb.microbatch(lambda x: x.sum(), 0, 2, "sum")(jnp.ones(4))
