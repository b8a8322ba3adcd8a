"""normalize_by_update_norm against Optax and by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax


@pytest.mark.parametrize(
    "kwargs", [{}, {"scale_factor": -0.5, "eps": 1e-3}], ids=["default", "custom"]
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.normalize_by_update_norm(**kwargs))


def test_by_hand():
    tx = tsx.normalize_by_update_norm(scale_factor=2.0, eps=0.0)
    u, _ = tx.update({"a": jnp.asarray([3.0]), "b": jnp.asarray([4.0])}, None)
    np.testing.assert_allclose(u["a"], [1.2], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [1.6], rtol=1e-6)


def test_bad_eps_fails_at_construction():
    with pytest.raises(ValueError, match="eps="):
        tsx.normalize_by_update_norm(eps=-1.0)
