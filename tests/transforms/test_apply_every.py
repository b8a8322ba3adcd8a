"""apply_every against Optax and by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax


@pytest.mark.parametrize("k", [1, 3])
def test_apply_every_in_chain_matches_optax(k):
    compare_with_optax(
        lambda lib: lib.chain(lib.adam(1e-2), lib.apply_every(k)), steps=7, jit=True
    )


def test_apply_every_sums_and_emits_by_hand():
    tx = tsx.apply_every(2)
    state = tx.init(jnp.zeros(2))
    outs = []
    for g in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]):
        u, state = tx.update(jnp.array(g), state)
        outs.append(np.asarray(u))
    np.testing.assert_allclose(outs, [[0, 0], [4, 6], [0, 0], [12, 14]])
    assert isinstance(state, tsx.ApplyEvery)


@pytest.mark.parametrize("k", [0, -2])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match="k"):
        tsx.apply_every(k)
