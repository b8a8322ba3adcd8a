"""freeze and selective_transform against Optax, including a checkpoint mid-run."""

import jax
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax, grads_at, nested_params
from tests.transforms.helpers import assert_resume_matches

MASK = {
    "scale": True,
    "dense": {"bias": False, "kernel": True},
    "conv": False,
    "layers": [False],
}


def test_freeze_in_chain_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(lib.adam(1e-2), lib.freeze(MASK)), jit=True
    )


@pytest.mark.parametrize("mask", [MASK, True, False], ids=["tree", "all", "none"])
def test_selective_transform_matches_optax(mask):
    compare_with_optax(
        lambda lib: lib.selective_transform(lib.adam(1e-2), freeze_mask=mask), jit=True
    )


def test_frozen_leaves_do_not_move_and_hold_no_state():
    params = nested_params()
    tx = tsx.selective_transform(tsx.adam(1e-2), freeze_mask=MASK)
    state = tx.init(params)
    u, state = tx.update(grads_at(params, 0), state, params)
    assert not np.any(u["dense"]["kernel"]) and not np.any(u["scale"])
    assert np.all(u["conv"]["kernel"] != 0)
    mu = state.inner_states["train"].inner_state[0].mu
    assert len(jax.tree.leaves(mu)) == 3  # bias, conv kernel, layers[0]


def test_freeze_restores_from_checkpoint_mid_run():
    params = nested_params()
    assert_resume_matches(
        lambda lib: lib.chain(lib.freeze(MASK), lib.adam(1e-2)),
        params,
        [grads_at(params, s) for s in range(5)],
        cut=2,
    )
    assert_resume_matches(
        lambda lib: lib.selective_transform(lib.adam(1e-2), freeze_mask=MASK),
        params,
        [grads_at(params, s) for s in range(5)],
        cut=3,
    )
