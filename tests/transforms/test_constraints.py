"""keep_params_nonnegative and centralize against Optax."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def test_keep_params_nonnegative_in_chain_matches_optax():
    params = {k: abs(v) for k, v in nested_params()["dense"].items()}
    compare_with_optax(
        # Momentum rather than Adam: near the bound, params + updates cancels
        # and would magnify Adam's last-ulp differences into test noise.
        lambda lib: lib.chain(
            lib.trace(0.5), lib.scale(-0.4), lib.keep_params_nonnegative()
        ),
        params=params,
        jit=True,
    )


def test_keep_params_nonnegative_by_hand():
    tx = tsx.keep_params_nonnegative()
    p = jnp.array([1.0, 0.5, 2.0])
    u, _ = tx.update(jnp.array([-2.0, 0.1, -1.0]), tx.init(p), p)
    np.testing.assert_allclose(u, [-1.0, 0.1, -1.0])
    with pytest.raises(ValueError, match="param"):
        tx.update(p, tx.init(p))
    assert tsx.NonNegativeParamsState is tsx.EmptyState


def test_centralize_in_chain_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(lib.centralize(), lib.adam(1e-2)), jit=True
    )


def test_centralize_by_hand():
    u, _ = tsx.centralize().update(
        {"m": jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]]), "v": jnp.ones(3)}, None
    )
    np.testing.assert_allclose(u["m"], [[-1.0, 0.0, 1.0], [-2.0, -1.0, 3.0]])
    np.testing.assert_allclose(u["v"], [1.0, 1.0, 1.0])
