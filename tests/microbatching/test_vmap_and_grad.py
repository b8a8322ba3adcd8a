"""micro_vmap and micro_grad against optax.microbatching and by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close

LIBS = [tsx.microbatching, optax.microbatching]


def _f(w, x, *, bias):
    return {"out": jnp.tanh(x @ w + bias), "norm": jnp.sum(x**2)}


def _inputs():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    return (
        jax.random.normal(k1, (4, 2)),
        jax.random.normal(k2, (8, 4)),
        jax.random.normal(k3, (8, 2)),
    )


@pytest.mark.parametrize(
    "microbatch_size,kind",
    [(None, "CONCAT"), (2, "CONCAT"), (8, "CONCAT"), (2, "SUM"), (4, "MEAN")],
)
def test_micro_vmap_matches_optax_and_vmap(microbatch_size, kind):
    w, x, bias = _inputs()
    outs = [
        jax.jit(
            lib.micro_vmap(
                _f,
                in_axes=(None, 0),
                microbatch_size=microbatch_size,
                accumulator=getattr(lib.AccumulationType, kind),
            )
        )(w, x, bias=bias)
        for lib in LIBS
    ]
    assert_trees_close(*outs)
    full = jax.vmap(_f, in_axes=(None, 0))(w, x, bias=bias)
    reduce = {
        "CONCAT": lambda a: a,
        "SUM": lambda a: a.sum(0),
        "MEAN": lambda a: a.mean(0),
    }
    assert_trees_close(outs[0], jax.tree.map(reduce[kind], full), rtol=1e-5)


def test_micro_vmap_rejects_out_axes():
    with pytest.raises(NotImplementedError):
        tsx.microbatching.micro_vmap(lambda x: x, out_axes=1)


def _loss(params, features, targets):
    preds = features @ params["w"] + params["b"]
    return 0.5 * jnp.mean((preds - targets) ** 2)


def _batch():
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    params = {"w": jnp.array([0.5, -1.0, 0.25]), "b": jnp.asarray(0.1)}
    return params, jax.random.normal(k1, (8, 3)), jax.random.normal(k2, (8,))


@pytest.mark.parametrize("microbatch_size", [None, 4])
def test_micro_grad_matches_optax(microbatch_size):
    params, features, targets = _batch()
    outs = []
    for lib in LIBS:
        fn = lib.micro_grad(
            _loss,
            argnums=0,
            batch_argnums=(1, 2),
            microbatch_size=microbatch_size,
            accumulator=lib.AccumulationType.MEAN,
            transform_fn=lambda g: (g, jax.tree.map(jnp.square, g)),
            metrics_fn=lambda g: optax.tree.norm(g),
        )
        outs.append(jax.jit(fn)(params, features, targets))
    (ours, our_aux), (theirs, their_aux) = outs
    assert_trees_close(ours, theirs)
    assert_trees_close(tuple(our_aux), tuple(their_aux))
    assert type(our_aux).__name__ == "Aux" and our_aux._fields == their_aux._fields
    # The mean of per-example gradients is the full-batch gradient of the mean loss.
    assert_trees_close(ours[0], jax.grad(_loss)(params, features, targets), rtol=1e-5)


def test_micro_grad_per_example_clipping_by_hand():
    params, features, targets = _batch()

    def clip(g):
        norm = optax.tree.norm(g)
        return jax.tree.map(lambda x: x * jnp.minimum(1.0, 0.1 / norm), g)

    summed, aux = tsx.microbatching.micro_grad(
        _loss, batch_argnums=(1, 2), microbatch_size=2, transform_fn=clip
    )(params, features, targets)
    expected = None
    for j in range(8):
        g = clip(jax.grad(_loss)(params, features[j : j + 1], targets[j : j + 1]))
        expected = g if expected is None else jax.tree.map(jnp.add, expected, g)
    assert_trees_close(summed, expected, rtol=1e-5)
    per_example = [
        _loss(params, features[j : j + 1], targets[j : j + 1]) for j in range(8)
    ]
    np.testing.assert_allclose(aux.values, per_example, rtol=1e-5)


def test_micro_grad_with_aux_and_no_batch_dim_matches_optax():
    params, features, targets = _batch()

    def loss(params, x, y):  # one example, no batch axis
        err = x @ params["w"] + params["b"] - y
        return 0.5 * err**2, {"err": err}

    outs = [
        jax.jit(
            lib.micro_grad(
                loss,
                has_aux=True,
                batch_argnums=(1, 2),
                keep_batch_dim=False,
                microbatch_size=4,
                num_real_microbatches=1,
            )
        )(params, features, targets)
        for lib in LIBS
    ]
    (ours, our_aux), (theirs, their_aux) = outs
    assert_trees_close(ours, theirs)
    assert_trees_close(tuple(our_aux), tuple(their_aux))
    # Only the first microbatch (rows 0, 2, 4, 6) ran.
    rows = [0, 2, 4, 6]
    expected = jax.grad(
        lambda p: sum(loss(p, features[j], targets[j])[0] for j in rows)
    )(params)
    assert_trees_close(ours, expected, rtol=1e-5)


def test_microbatch_is_exported_at_top_level_of_the_namespace():
    for name in dir(optax.microbatching):
        if not name.startswith("_"):
            assert hasattr(tsx.microbatching, name), name
    assert set(tsx.microbatching.__all__) == {
        n for n in dir(optax.microbatching) if not n.startswith("_")
    }
