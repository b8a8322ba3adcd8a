"""tree_dtype and friends against Optax."""

import jax.numpy as jnp
import optax
import pytest

import tsx

MIXED = [
    (jnp.bfloat16, jnp.float32),
    (jnp.float16, jnp.float32),
    (jnp.int32, jnp.float16),
    # Leaves are compared pairwise in order: bfloat16 meets float16 first.
    (jnp.bfloat16, jnp.float16, jnp.float32),
]


def _tree(dtypes):
    return {f"x{i}": jnp.ones(2, d) for i, d in enumerate(dtypes)}


@pytest.mark.parametrize("handler", ["highest", "lowest", "promote"])
@pytest.mark.parametrize("dtypes", MIXED[:3], ids=str)
def test_tree_dtype_matches_optax(dtypes, handler):
    tree = _tree(dtypes)
    want = optax.tree_utils.tree_dtype(tree, handler)
    assert tsx.tree_utils.tree_dtype(tree, handler) == want
    assert tsx.tree.dtype(tree, handler) == want


@pytest.mark.parametrize("handler", ["highest", "lowest"])
def test_incomparable_dtypes_raise_value_error_like_optax(handler):
    tree = _tree(MIXED[3])
    with pytest.raises(ValueError):
        optax.tree_utils.tree_dtype(tree, handler)
    with pytest.raises(ValueError, match="bfloat16 and float16 cannot be ordered"):
        tsx.tree_utils.tree_dtype(tree, handler)


def test_empty_tree_has_the_default_dtype_like_optax():
    assert tsx.tree_utils.tree_dtype({}) == optax.tree_utils.tree_dtype({})


def test_mixed_without_a_handler_raises():
    with pytest.raises(ValueError, match="several dtypes"):
        tsx.tree_utils.tree_dtype(_tree(MIXED[0]))
