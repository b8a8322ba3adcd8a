"""tree_map_params against Optax, including masked states."""

import flax.serialization
import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.oracle import nested_params


def _specs(params):
    # A params-shaped tree of strings, like partition specs.
    return jax.tree_util.tree_map_with_path(
        lambda path, _: jax.tree_util.keystr(path), params
    )


def _as_dict(state):
    return flax.serialization.to_state_dict(state)


def _assert_same_state(ours, theirs):
    """Same serialized keys and structure, equal leaves (arrays or strings)."""
    a, b = _as_dict(ours), _as_dict(theirs)
    is_none = lambda x: x is None  # noqa: E731
    assert jax.tree.structure(a, is_leaf=is_none) == jax.tree.structure(
        b, is_leaf=is_none
    )
    for x, y in zip(
        jax.tree.leaves(a, is_leaf=is_none),
        jax.tree.leaves(b, is_leaf=is_none),
        strict=True,
    ):
        if isinstance(x, str) or x is None:
            assert x == y
        else:
            assert jnp.asarray(x).dtype == jnp.asarray(y).dtype
            assert jnp.array_equal(x, y)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.adam(1e-3),
        lambda lib: lib.sgd(1e-2, momentum=0.9),
        lambda lib: lib.chain(lib.scale_by_adam(), lib.adagrad(0.1)),
        lambda lib: lib.adam(lib.linear_schedule(1e-2, 1e-4, 10)),
        lambda lib: lib.inject_hyperparams(lib.adamw)(learning_rate=1e-3),
    ],
)
def test_tree_map_params_matches_optax(make):
    params = nested_params()
    specs = _specs(params)
    results = []
    for lib in (tsx, optax):
        opt = make(lib)
        state = opt.init(params)
        results.append(
            (
                lib.tree_utils.tree_map_params(
                    opt,
                    lambda _, spec: spec,
                    state,
                    specs,
                    transform_non_params=lambda _: "non-param",
                ),
                lib.tree.map_params(opt.init, lambda p: p + 1, state),
                lib.tree_utils.tree_map_params(opt, lambda _: None, state),
            )
        )
    for ours, theirs in zip(*results, strict=True):
        _assert_same_state(ours, theirs)


def test_tree_map_params_masked_inner_state():
    # The masked state's inner copies of the params hold MaskedNode in place
    # of masked-out leaves: mapping skips them, as in Optax.
    params = {
        "a": {"b": (jnp.zeros((1, 2)), jnp.zeros((2, 2)))},
        "c": {"d": jnp.zeros((1, 2)), "e": (jnp.zeros((1, 2)), jnp.zeros((1, 2)))},
    }
    mask = {"a": {"b": (True, False)}, "c": {"d": True, "e": (False, True)}}
    expected = {
        "a": {"b": (jnp.ones((1, 2)), jnp.zeros((2, 2)))},
        "c": {"d": jnp.ones((1, 2)), "e": (jnp.ones((1, 2)), jnp.ones((1, 2)))},
    }

    def increment_dim_1(v):
        return v + 1 if v.shape[0] == 1 else v

    for lib in (tsx, optax):
        inner = lib.GradientTransformation(
            lambda p: {"count": 1, "params": p, "params_copy": p},
            lambda u, s, p=None: (u, s),
        )
        masked = lib.masked(inner, mask)
        result = lib.tree_utils.tree_map_params(
            masked, increment_dim_1, masked.init(params)
        )
        want = masked.init(expected)
        assert jax.tree.structure(result) == jax.tree.structure(want)
        assert all(
            jnp.array_equal(x, y)
            for x, y in zip(jax.tree.leaves(result), jax.tree.leaves(want), strict=True)
        )


def test_tree_map_params_masked_adam_with_is_leaf():
    params = nested_params()
    mask = {k: k != "conv" for k in params}
    specs = _specs(params)
    outs = []
    for lib in (tsx, optax):
        opt = lib.masked(lib.scale_by_adam(), mask)
        state = opt.init(params)
        out = lib.tree_utils.tree_map_params(
            opt,
            lambda v, spec: "masked" if isinstance(v, lib.MaskedNode) else spec,
            state,
            specs,
            transform_non_params=lambda _: "count",
            is_leaf=lambda v: isinstance(v, lib.MaskedNode),
        )
        outs.append(out)
    _assert_same_state(outs[0], outs[1])


def test_tree_map_params_under_jit_state_and_chain_with_optax():
    params = nested_params()
    opt = tsx.chain(tsx.scale_by_adam(), optax.trace(0.9))
    state = jax.jit(opt.init)(params)
    doubled = tsx.tree_utils.tree_map_params(opt, lambda p: 2 * p + 1, state)
    assert jax.tree.structure(doubled) == jax.tree.structure(state)
    mu = doubled[0].mu
    assert all(jnp.all(x == 1.0) for x in jax.tree.leaves(mu))
    assert doubled[0].count == state[0].count
