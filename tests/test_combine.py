"""chain and named_chain against Optax: numbers, state types, checkpoints."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

import tsx
from tests.oracle import compare_with_optax


def _members(lib):
    return (("clip", lib.clip_by_global_norm(1.0)), ("adam", lib.adam(1e-2)))


def _paths(tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [jax.tree_util.keystr(path) for path, _ in flat]


def test_named_chain_matches_optax():
    compare_with_optax(lambda lib: lib.named_chain(*_members(lib)))


def test_named_chain_state_is_an_ordered_dict_as_in_optax():
    params = {"w": jnp.ones(3)}
    ours = tsx.named_chain(*_members(tsx)).init(params)
    theirs = optax.named_chain(*_members(optax)).init(params)
    assert type(ours) is type(theirs) is collections.OrderedDict
    assert list(ours) == list(theirs) == ["clip", "adam"]


def test_an_optax_named_chain_checkpoint_restores_into_tsx(tmp_path):
    params = {"w": jnp.arange(3.0)}
    grads = {"w": jnp.array([0.5, -1.0, 2.0])}
    theirs = optax.named_chain(*_members(optax))
    state = theirs.init(params)
    for _ in range(2):
        _, state = theirs.update(grads, state, params)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "step", state)
    checkpointer.wait_until_finished()

    ours = tsx.named_chain(*_members(tsx))
    restored = checkpointer.restore(tmp_path / "step", ours.init(params))
    # The same container and leaf paths (the NamedTuple classes are each
    # library's own), and the same numbers.
    assert type(restored) is type(state)
    assert _paths(restored) == _paths(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)
    u_ours, _ = ours.update(grads, restored, params)
    u_theirs, _ = theirs.update(grads, state, params)
    np.testing.assert_array_equal(u_ours["w"], u_theirs["w"])
