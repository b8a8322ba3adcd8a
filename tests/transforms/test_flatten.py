"""flatten against Optax, including a checkpoint mid-run."""

import jax

import tsx
from tests.oracle import compare_with_optax, grads_at, nested_params
from tests.transforms.helpers import assert_resume_matches


def test_flatten_in_chain_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(lib.clip(0.4), lib.flatten(lib.adamw(1e-2))), jit=True
    )


def test_flatten_state_is_one_vector():
    params = nested_params()
    state = tsx.flatten(tsx.adam(1e-2)).init(params)
    size = sum(x.size for x in jax.tree.leaves(params))
    assert state[0].mu.shape == (size,)


def test_flatten_restores_from_checkpoint_mid_run():
    params = nested_params()
    assert_resume_matches(
        lambda lib: lib.flatten(lib.adam(1e-2)),
        params,
        [grads_at(params, s) for s in range(5)],
        cut=2,
    )
