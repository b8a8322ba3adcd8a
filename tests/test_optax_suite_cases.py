"""Cases from Optax's own test suite where tsx once differed, checked against Optax.

Each test runs the same call through Optax and tsx and compares the results
(or, where tsx refuses a value on purpose, checks the refusal).
"""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx


@pytest.mark.parametrize("name", ["tree_max", "tree_min"])
def test_tree_extrema_pass_over_empty_leaves(name):
    tree = {"a": jnp.zeros((0, 3)), "b": jnp.array([2.0, -1.0]), "c": jnp.ones(())}
    got = getattr(tsx.tree_utils, name)(tree)
    want = getattr(optax.tree_utils, name)(tree)
    np.testing.assert_array_equal(got, want)


def test_tree_add_scale_keeps_none():
    assert tsx.tree_utils.tree_add_scale(None, 2.0, None) is None
    x = {"a": None, "b": jnp.ones(2)}
    y = {"a": None, "b": jnp.full(2, 3.0)}
    got = tsx.tree_utils.tree_add_scale(x, 0.5, y)
    want = optax.tree_utils.tree_add_scale(x, 0.5, y)
    assert got["a"] is None and want["a"] is None
    np.testing.assert_array_equal(got["b"], want["b"])


@pytest.mark.parametrize("dtype", [jnp.uint32, jnp.int32, jnp.uint8, jnp.float32])
def test_safe_increment_saturates_in_every_dtype(dtype):
    top = jnp.iinfo(dtype).max if jnp.issubdtype(dtype, jnp.integer) else 1e30
    for value in (0, top):
        count = jnp.asarray(value, dtype)
        got = tsx.numerics.safe_increment(count)
        want = optax.safe_increment(count)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_safe_root_mean_squares_of_complex_uses_the_modulus():
    x = jnp.array([0.003 + 0.002j, -0.004j, 0.001 + 0.0j])
    got = tsx.numerics.safe_root_mean_squares(x, 1e-3)
    want = optax.safe_root_mean_squares(x, 1e-3)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, np.sqrt(np.mean(np.abs(np.asarray(x)) ** 2)))


def test_adafactor_initialises_on_abstract_params():
    params = {
        "w": jax.ShapeDtypeStruct((256, 128), jnp.float32),
        "b": jax.ShapeDtypeStruct((128,), jnp.float32),
    }
    got = jax.eval_shape(tsx.adafactor(1e-2).init, params)
    want = jax.eval_shape(optax.adafactor(1e-2).init, params)
    assert jax.tree.map(lambda s: (s.shape, s.dtype), got) == jax.tree.map(
        lambda s: (s.shape, s.dtype), want
    )
    # Abstract leaves straight into init, not only under eval_shape.
    concrete = tsx.adafactor(1e-2).init(params)
    assert jax.tree.structure(concrete) == jax.tree.structure(got)


def test_adafactor_follows_optax_on_complex_params():
    params = {"w": jnp.full((3, 4), 0.5 + 0.25j, jnp.complex64)}
    grads = {"w": jnp.linspace(-1, 1, 12).reshape(3, 4) * (1 - 0.5j)}
    ours, theirs = tsx.adafactor(1e-2), optax.adafactor(1e-2)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for _ in range(3):
        u_ours, s_ours = ours.update(grads, s_ours, params)
        u_theirs, s_theirs = theirs.update(grads, s_theirs, params)
        np.testing.assert_allclose(u_ours["w"], u_theirs["w"], rtol=1e-5, atol=1e-7)


def test_trace_with_decay_one_is_a_running_sum():
    params = jnp.zeros(3)
    tx, ref = tsx.trace(1.0), optax.trace(1.0)
    s, r = tx.init(params), ref.init(params)
    for g in (jnp.ones(3), 2 * jnp.ones(3), -jnp.ones(3)):
        u, s = tx.update(g, s)
        v, r = ref.update(g, r)
    np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(u, 2 * jnp.ones(3))


def test_backtracking_with_infinite_increase_restarts_from_the_largest_step():
    def f(w):
        return jnp.sum((w - 3.0) ** 2)

    w = jnp.zeros(2)
    results = []
    for lib in (tsx, optax):
        tx = lib.chain(
            lib.sgd(1.0),
            lib.scale_by_backtracking_linesearch(
                max_backtracking_steps=15, increase_factor=math.inf
            ),
        )
        state = tx.init(w)
        params = w
        for _ in range(3):
            value, grad = jax.value_and_grad(f)(params)
            updates, state = tx.update(
                grad, state, params, value=value, grad=grad, value_fn=f
            )
            params = lib.apply_updates(params, updates)
        results.append(params)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_lion_refuses_an_unknown_mode_when_built():
    # Optax raises ValueError at the first update; tsx raises it at once.
    with pytest.raises(ValueError, match="mode"):
        tsx.scale_by_lion(mode="invalid_mode")


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "lion", "adafactor"])
def test_annotations_are_the_objects_optax_uses(name):
    ours = inspect.signature(getattr(tsx, name)).parameters["learning_rate"]
    theirs = inspect.signature(getattr(optax, name)).parameters["learning_rate"]
    assert not isinstance(ours.annotation, str)
    assert ours.annotation == theirs.annotation


def test_no_public_signature_has_string_annotations():
    found = []
    for namespace in (tsx, tsx.contrib, tsx.transforms, tsx.schedules, tsx.losses):
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if not callable(obj):
                continue
            try:
                params = inspect.signature(obj).parameters.values()
            except (TypeError, ValueError):
                continue
            found += [
                f"{name}({p.name})" for p in params if isinstance(p.annotation, str)
            ]
    assert not found, found
