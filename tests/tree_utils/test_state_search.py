"""tree_get_all_with_path, tree_get, tree_set and NamedTupleKey against Optax."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tsx.tree_utils import NamedTupleKey


class Inner(NamedTuple):
    count: jax.Array
    learning_rate: jax.Array


class Outer(NamedTuple):
    count: jax.Array
    inner: Inner
    extra: dict


def _optax_state():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    opt = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=1.0),
        optax.chain(
            optax.adam(learning_rate=1.0),
            optax.inject_hyperparams(optax.adam)(learning_rate=1e-4),
        ),
        optax.add_noise(1.0, 0.9, key=0),
    )
    return opt.init(params)


def _custom_tree():
    return {
        "a": Outer(
            count=jnp.array(1),
            inner=Inner(count=jnp.array(2), learning_rate=jnp.array(0.1)),
            extra={"learning_rate": jnp.array(0.5), "count": None, "z": [1.0, 2.0]},
        ),
        "count": jnp.array(3),
        "list": [Inner(jnp.array(4), jnp.array(0.2)), {"mu": jnp.ones(2)}],
        "none": None,
    }


TREES = {
    "optax_state": _optax_state,
    "tsx_adam_state": lambda: tsx.adam(1e-3).init({"w": jnp.ones(3)}),
    "custom": _custom_tree,
    "flat_array": lambda: jnp.arange(3.0),
    "empty": lambda: (),
}
KEYS = [
    "count",
    "learning_rate",
    "mu",
    "hyperparams",
    "ScaleByAdamState",
    "Inner",
    "AddNoiseState",
    "apple",
]


def _normalize(found):
    """Paths with NamedTupleKey turned into plain tuples (the two classes differ)."""

    def entry(e):
        if isinstance(e, NamedTupleKey | optax.tree_utils.NamedTupleKey):
            return ("NamedTupleKey", e.tuple_name, e.name, str(e))
        return e

    return [(tuple(entry(e) for e in path), value) for path, value in found]


def _assert_same_found(ours, theirs):
    ours, theirs = _normalize(ours), _normalize(theirs)
    assert [p for p, _ in ours] == [p for p, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert jax.tree.structure(a) == jax.tree.structure(b)
        assert all(
            jnp.array_equal(jax.random.key_data(x), jax.random.key_data(y))
            if jax.dtypes.issubdtype(jnp.asarray(x).dtype, jax.dtypes.prng_key)
            else jnp.array_equal(x, y)
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )


@pytest.mark.parametrize("tree_name", list(TREES))
@pytest.mark.parametrize("key", KEYS)
def test_tree_get_all_with_path(tree_name, key):
    tree = TREES[tree_name]()
    _assert_same_found(
        tsx.tree_utils.tree_get_all_with_path(tree, key),
        optax.tree_utils.tree_get_all_with_path(tree, key),
    )


@pytest.mark.parametrize(
    "filtering",
    [
        lambda path, value: isinstance(value, jax.Array),
        lambda path, value: isinstance(value, tuple),
        lambda path, value: "Inject" in str(path[-1]) if path else False,
    ],
)
@pytest.mark.parametrize("tree_name", ["optax_state", "custom"])
def test_tree_get_all_with_path_filtering(filtering, tree_name):
    tree = TREES[tree_name]()
    for key in ("learning_rate", "count"):
        _assert_same_found(
            tsx.tree_utils.tree_get_all_with_path(tree, key, filtering),
            optax.tree_utils.tree_get_all_with_path(tree, key, filtering),
        )


def test_named_tuple_key():
    key = NamedTupleKey("ScaleByAdamState", "mu")
    assert str(key) == str(optax.tree_utils.NamedTupleKey("ScaleByAdamState", "mu"))
    assert key == NamedTupleKey("ScaleByAdamState", "mu")
    assert hash(key) == hash(NamedTupleKey("ScaleByAdamState", "mu"))
    with pytest.raises(AttributeError):
        key.name = "nu"
    path = tsx.tree_utils.tree_get_all_with_path(TREES["custom"](), "learning_rate")
    assert jax.tree_util.keystr(path[0][0]) == jax.tree_util.keystr(
        optax.tree_utils.tree_get_all_with_path(TREES["custom"](), "learning_rate")[0][
            0
        ]
    )


def test_tree_get():
    state = tsx.adam(1.0).init(jnp.ones(3))
    assert tsx.tree_utils.tree_get(state, "count") == optax.tree_utils.tree_get(
        state, "count"
    )
    assert tsx.tree_utils.tree_get(state, "apple", default=7) == 7
    tree = _optax_state()
    with pytest.raises(KeyError, match="multiple"):
        tsx.tree_utils.tree_get(tree, "learning_rate")
    with pytest.raises(KeyError):
        optax.tree_utils.tree_get(tree, "learning_rate")
    only_arrays = lambda path, value: isinstance(value, jax.Array)  # noqa: E731
    custom = _custom_tree()
    for key in ("mu", "Inner", "AddNoiseState"):
        for t in (custom, tree):
            try:
                want = optax.tree_utils.tree_get(t, key, filtering=only_arrays)
            except KeyError:
                with pytest.raises(KeyError):
                    tsx.tree_utils.tree_get(t, key, filtering=only_arrays)
                continue
            got = tsx.tree_utils.tree_get(t, key, filtering=only_arrays)
            assert jax.tree.structure(got) == jax.tree.structure(want)


def _assert_same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = jnp.asarray(x), jnp.asarray(y)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.dtype == y.dtype and jnp.array_equal(x, y)


@pytest.mark.parametrize("tree_name", ["optax_state", "custom", "tsx_adam_state"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": jnp.array(9)},
        {"learning_rate": jnp.array(0.01)},
        {"count": 2.0, "learning_rate": jnp.array(0.3)},
        {"Inner": Inner(jnp.array(0), jnp.array(0.0))},
        {"mu": {"w": jnp.zeros(3)}},
    ],
)
def test_tree_set(tree_name, kwargs):
    tree = TREES[tree_name]()
    try:
        want = optax.tree_utils.tree_set(tree, **kwargs)
    except KeyError:
        with pytest.raises(KeyError, match="no values"):
            tsx.tree_utils.tree_set(tree, **kwargs)
        return
    _assert_same_tree(tsx.tree_utils.tree_set(tree, **kwargs), want)


@pytest.mark.parametrize("tree_name", ["optax_state", "custom"])
def test_tree_set_with_filtering(tree_name):
    tree = TREES[tree_name]()
    only_arrays = lambda path, value: isinstance(value, jax.Array)  # noqa: E731
    in_inner = lambda path, value: "Inner" in str(path[-1])  # noqa: E731
    for filtering in (only_arrays, in_inner):
        for key in ("learning_rate", "count"):
            try:
                want = optax.tree_utils.tree_set(tree, filtering, **{key: 0.5})
            except KeyError:
                with pytest.raises(KeyError, match="filtering"):
                    tsx.tree_utils.tree_set(tree, filtering, **{key: 0.5})
                continue
            _assert_same_tree(
                tsx.tree_utils.tree_set(tree, filtering, **{key: 0.5}), want
            )


def test_tree_set_on_tsx_state_keeps_working_optimizer():
    opt = tsx.adam(1e-2)
    params = jnp.ones(3)
    state = tsx.tree_utils.tree_set(opt.init(params), count=jnp.array(5, jnp.int32))
    assert tsx.tree_utils.tree_get(state, "count") == 5
    _, new_state = opt.update(jnp.ones(3), state, params)
    assert tsx.tree_utils.tree_get(new_state, "count") == 6
