"""labels_by_path: ordered regex/glob rules, clear errors, multi_transform-ready."""

import flax
import flax.traverse_util as tu
import jax
import optax
import pytest

import tsx
from tests.masks.models import muonish_params
from tests.oracle import compare_with_optax


def _flat(tree):
    return tu.flatten_dict(flax.core.unfreeze(tree), sep="/")


def test_first_matching_rule_wins_and_default_labels_the_rest():
    params = muonish_params()
    labels = tsx.masks.labels_by_path(
        params,
        {r".*/bias": "bias", r"mlp_.*": "mlp", r"ln/.*": "norm"},
        default="other",
    )
    expected = {}
    for path in _flat(params):
        if path.endswith("/bias"):
            expected[path] = "bias"
        elif path.startswith("mlp_"):
            expected[path] = "mlp"
        elif path.startswith("ln/"):
            expected[path] = "norm"
        else:
            expected[path] = "other"
    assert _flat(labels) == expected
    assert expected["ln/bias"] == "bias"  # the earlier rule took it


def test_pairs_glob_and_predicate_rules():
    params = muonish_params()
    by_glob = tsx.masks.labels_by_path(
        params, [("*embedding*", "embed"), ("*", "rest")], syntax="glob"
    )
    assert _flat(by_glob)["token_embedding/embedding"] == "embed"
    assert set(_flat(by_glob).values()) == {"embed", "rest"}
    by_pred = tsx.masks.labels_by_path(
        params, [(tsx.masks.by_ndim(1), "vector")], default="matrix"
    )
    for path, label in _flat(by_pred).items():
        assert label == ("vector" if _flat(params)[path].ndim == 1 else "matrix")


def test_regex_must_match_the_whole_path():
    params = muonish_params()
    with pytest.raises(ValueError, match="rule 'bias' matched no parameter path"):
        tsx.masks.labels_by_path(params, {"bias": "b"}, default="x")


def test_a_rule_that_matches_nothing_is_named():
    params = muonish_params()
    with pytest.raises(ValueError, match=r"rule 'encoder/\.\*' matched no parameter"):
        tsx.masks.labels_by_path(
            params, {r".*/kernel": "k", r"encoder/.*": "enc"}, default="x"
        )
    labels = tsx.masks.labels_by_path(
        params,
        {r".*/kernel": "k", r"encoder/.*": "enc"},
        default="x",
        allow_unused=True,
    )
    assert "enc" not in jax.tree.leaves(labels)


def test_a_shadowed_rule_is_named():
    params = muonish_params()
    with pytest.raises(ValueError, match=r"rule '\.\*/bias' only matched paths"):
        tsx.masks.labels_by_path(params, [(r".*", "all"), (r".*/bias", "b")])


def test_unmatched_paths_without_default_are_named():
    params = muonish_params()
    with pytest.raises(ValueError, match="'ln/scale'"):
        tsx.masks.labels_by_path(params, {r".*/(kernel|bias|embedding)": "w"})
    with pytest.raises(ValueError, match="default=None"):
        tsx.masks.labels_by_path(params, {r".*": "w"}, default=None)


def test_frozen_dict_in_frozen_dict_out():
    params = flax.core.freeze(muonish_params())
    labels = tsx.masks.labels_by_path(params, {r".*/kernel": "k"}, default="o")
    assert isinstance(labels, flax.core.FrozenDict)
    assert jax.tree.structure(labels) == jax.tree.structure(params)


def test_labels_drive_multi_transform_like_hand_written_labels_in_optax():
    params = muonish_params()

    def hand_labels(p):
        flat = tu.flatten_dict(p)
        return tu.unflatten_dict(
            {k: ("slow" if k[-1] == "embedding" else "fast") for k in flat}
        )

    ours = tsx.masks.labels_by_path(params, {r".*/embedding": "slow"}, default="fast")
    compare_with_optax(
        lambda lib: lib.multi_transform(
            {"slow": lib.adam(1e-3), "fast": lib.sgd(1e-1, momentum=0.9)},
            ours if lib is tsx else hand_labels(params),
        ),
        params=params,
        steps=3,
        jit=True,
    )


def test_bad_rules_container():
    with pytest.raises(ValueError, match="rules must be a mapping"):
        tsx.masks.labels_by_path(muonish_params(), "kernel")
    with pytest.raises(ValueError, match="item"):
        tsx.masks.labels_by_path(muonish_params(), [("a", "b", "c")])


def test_works_with_optax_mask_helpers_on_real_trees():
    params = muonish_params()
    labels = tsx.masks.labels_by_path(params, {r".*/kernel": "decay"}, default="none")
    tx = optax.multi_transform(
        {"decay": optax.add_decayed_weights(1.0), "none": optax.identity()}, labels
    )
    zeros = jax.tree.map(lambda p: p * 0, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    for path, u in _flat(updates).items():
        expected = _flat(params)[path] if path.endswith("kernel") else 0 * u
        assert (u == expected).all(), path
