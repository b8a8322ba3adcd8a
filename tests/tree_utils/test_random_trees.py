"""tree_random_like, tree_split_key_like and tree_unwrap_random_key_data vs Optax."""

import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.losses.helpers import assert_same

# Three leaves of different ranks keep the per-leaf key splitting visible while
# keeping compilation cheap.
TREE = {"w": jnp.ones((2, 3)), "b": [jnp.zeros(4), jnp.ones(())]}


@pytest.mark.parametrize("key", [jax.random.PRNGKey(3), jax.random.key(3)])
def test_tree_split_key_like(key):
    ours = tsx.tree_utils.tree_split_key_like(key, TREE)
    theirs = optax.tree_utils.tree_split_key_like(key, TREE)
    assert_same(
        tsx.tree_utils.tree_unwrap_random_key_data(ours),
        optax.tree_utils.tree_unwrap_random_key_data(theirs),
    )


@pytest.mark.parametrize(
    "sampler,dtype",
    [
        (jax.random.uniform, None),
        (jax.random.normal, jnp.bfloat16),
        (jax.random.rademacher, jnp.int32),
        # A sampler without out_sharding.
        (lambda key, shape, dtype: jax.random.gumbel(key, shape, dtype), None),
    ],
)
def test_tree_random_like(sampler, dtype):
    key = jax.random.PRNGKey(11)

    def run(lib):
        return jax.jit(
            lambda k: lib.tree_utils.tree_random_like(k, TREE, sampler, dtype)
        )(key)

    assert_same(run(tsx), run(optax))


def test_tree_random_like_default_and_jit_and_typed_key():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), TREE)
    key = jax.random.key(5)
    assert_same(
        jax.jit(tsx.tree_utils.tree_random_like)(key, params),
        jax.jit(optax.tree_utils.tree_random_like)(key, params),
    )


def test_tree_unwrap_random_key_data():
    tree = {"k": jax.random.key(1), "raw": jax.random.PRNGKey(2), "x": jnp.ones(2)}
    assert_same(
        tsx.tree_utils.tree_unwrap_random_key_data(tree),
        optax.tree_utils.tree_unwrap_random_key_data(tree),
    )
    unwrapped = tsx.tree_utils.tree_unwrap_random_key_data(tree)
    assert unwrapped["k"].dtype == jnp.uint32
