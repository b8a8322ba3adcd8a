"""tsx.tree_utils and tsx.tree have every public name of Optax's (at run time)."""

import inspect

import optax

import tsx
from tests.losses.helpers import assert_signatures_match


def _public(module) -> set[str]:
    # Optax's namespaces also leak imported modules (functools, typing).
    return {
        n
        for n in dir(module)
        if not n.startswith("_") and not inspect.ismodule(getattr(module, n))
    }


def test_tree_utils_has_every_optax_name():
    missing = _public(optax.tree_utils) - set(tsx.tree_utils.__all__)
    assert not missing, f"tsx.tree_utils lacks {sorted(missing)}"


def test_tree_has_every_optax_name():
    missing = _public(optax.tree) - set(dir(tsx.tree))
    assert not missing, f"tsx.tree lacks {sorted(missing)}"
    for name in _public(optax.tree):
        assert getattr(tsx.tree, name) is getattr(tsx.tree_utils, "tree_" + name)


def test_new_tree_utils_signatures_match_optax():
    new = {
        "NamedTupleKey",
        "tree_get",
        "tree_get_all_with_path",
        "tree_map_params",
        "tree_random_like",
        "tree_set",
        "tree_split_key_like",
        "tree_unwrap_random_key_data",
    }
    assert new <= _public(optax.tree_utils)
    assert_signatures_match(tsx.tree_utils, optax.tree_utils, new)
    for name in new - {"NamedTupleKey"}:
        short = name.removeprefix("tree_")
        assert getattr(tsx.tree, short) is getattr(tsx.tree_utils, name)
