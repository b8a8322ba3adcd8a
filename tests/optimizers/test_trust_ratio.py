"""scale_by_trust_ratio against Optax and by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax, state_layout


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"min_norm": 0.5, "trust_coefficient": 0.01, "eps": 1e-3}],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.scale_by_trust_ratio(**kwargs))


def test_by_hand_with_zero_norms():
    params = {"a": jnp.asarray([3.0, 4.0]), "z": jnp.zeros(2), "g0": jnp.ones(2)}
    updates = {"a": jnp.asarray([0.6, 0.8]), "z": jnp.ones(2), "g0": jnp.zeros(2)}
    tx = tsx.scale_by_trust_ratio(trust_coefficient=0.5)
    out, state = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(out["a"], [1.5, 2.0], rtol=1e-6)
    # A zero parameter or update norm gives a ratio of 1.
    np.testing.assert_allclose(out["z"], [1.0, 1.0])
    np.testing.assert_allclose(out["g0"], [0.0, 0.0])
    assert state == tsx.ScaleByTrustRatioState() == tsx.EmptyState()
    assert state_layout(state) == {}


@pytest.mark.parametrize("arg", ["min_norm", "trust_coefficient", "eps"])
def test_bad_hyperparameters_fail_at_construction(arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.scale_by_trust_ratio(**{arg: -1.0})


def test_needs_params():
    tx = tsx.scale_by_trust_ratio()
    with pytest.raises(ValueError, match="params"):
        tx.update({"a": jnp.ones(2)}, tx.init({"a": jnp.ones(2)}))
