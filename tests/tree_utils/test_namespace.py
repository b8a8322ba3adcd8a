"""tsx.tree_utils and tsx.tree have every public name of Optax's (at run time)."""

import inspect

import optax

import tsx


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
