"""Composable predicates: path, ndim, shape, dtype; as masks, labels, conditions."""

import flax.traverse_util as tu
import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.masks.models import muonish_params, zoo_variables
from tests.oracle import compare_with_optax

M = tsx.masks


def _flat(tree):
    return tu.flatten_dict(tree, sep="/")


def test_each_predicate_selects_what_it_says():
    params = zoo_variables()["params"]
    flat = _flat(params)
    cases = {
        M.by_ndim(2): lambda p, x: x.ndim == 2,
        M.by_ndim(at_least=2): lambda p, x: x.ndim >= 2,
        M.by_ndim(1, 3): lambda p, x: x.ndim in (1, 3),
        M.by_shape((None, 8)): lambda p, x: x.ndim == 2 and x.shape[1] == 8,
        M.by_shape((8,), (3,)): lambda p, x: x.shape in ((8,), (3,)),
        M.by_dtype(jnp.floating): lambda p, x: True,
        M.by_dtype(jnp.int32): lambda p, x: False,
        M.by_path(r".*Norm.*/.*"): lambda p, x: "Norm" in p.split("/")[0],
        M.by_path("*/kernel", syntax="glob"): lambda p, x: p.endswith("/kernel"),
    }
    for pred, expected in cases.items():
        got = _flat(pred.mask(params))
        assert got == {p: expected(p, x) for p, x in flat.items()}, repr(pred)
        assert any(got.values()) or repr(pred) == "by_dtype(int32)", repr(pred)


def test_composition_and_plain_functions():
    params = muonish_params()
    flat = _flat(params)
    matrix = M.by_ndim(2)
    embed = M.by_path(r"(?i).*embedding.*")
    big = lambda path, x: x.size > 100  # noqa: E731
    combos = {
        matrix & ~embed: lambda p, x: x.ndim == 2 and "embedding" not in p,
        matrix | M.by_path(r"ln/.*"): lambda p, x: x.ndim == 2 or p.startswith("ln/"),
        matrix ^ embed: lambda p, x: (x.ndim == 2) != ("embedding" in p),
        matrix & big: lambda p, x: x.ndim == 2 and x.size > 100,
        big & matrix: lambda p, x: x.ndim == 2 and x.size > 100,
    }
    for pred, expected in combos.items():
        assert isinstance(pred, M.Predicate)
        assert _flat(pred.mask(params)) == {p: expected(p, x) for p, x in flat.items()}
    assert repr(matrix & ~embed) == "(by_ndim(2) & ~by_path('(?i).*embedding.*'))"


def test_any_path_form_gives_the_same_answer():
    params = muonish_params()
    pred = M.by_path(r"mlp_in/kernel")
    x = params["mlp_in"]["kernel"]
    keypath = (jax.tree_util.DictKey("mlp_in"), jax.tree_util.DictKey("kernel"))
    assert pred("mlp_in/kernel", x)
    assert pred(keypath, x)
    assert pred(("mlp_in", "kernel"), x)
    assert not pred(("mlp_out", "kernel"), x)
    assert pred.paths(params) == ["mlp_in/kernel"]


def test_abstract_params_work():
    params = jax.eval_shape(lambda: muonish_params())
    mask = M.by_ndim(2).mask(params)
    assert mask["mlp_in"]["kernel"] is True and mask["ln"]["scale"] is False


def test_labels_method_drives_multi_transform_like_optax():
    params = muonish_params()
    labels = M.by_ndim(2).labels(params, "matrix", "other")
    hand = jax.tree.map(lambda x: "matrix" if x.ndim == 2 else "other", params)
    compare_with_optax(
        lambda lib: lib.multi_transform(
            {"matrix": lib.sgd(0.1), "other": lib.adam(1e-2)},
            labels if lib is tsx else hand,
        ),
        params=params,
        steps=2,
        jit=True,
    )


def test_predicate_is_a_partition_condition():
    params = muonish_params()
    tx = tsx.partition(
        condition=M.by_ndim(2),
        true_gradient_transform=tsx.set_to_zero(),
        false_gradient_transform=tsx.sgd(1.0),
    )
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    for path, u in _flat(updates).items():
        assert bool((u == (0.0 if _flat(params)[path].ndim == 2 else -1.0)).all()), path


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: M.by_ndim(), "by_ndim needs"),
        (lambda: M.by_ndim(-1), "ndims"),
        (lambda: M.by_shape(), "by_shape needs"),
        (lambda: M.by_dtype(), "by_dtype needs"),
        (lambda: M.by_path(), "by_path needs"),
        (lambda: M.by_path("[a-"), "invalid regex"),
        (lambda: M.by_path("a", syntax="re"), "syntax='re'"),
        (lambda: M.as_predicate(3), "callable"),
    ],
)
def test_bad_predicates_fail_when_built(build, match):
    with pytest.raises(ValueError, match=match):
        build()
