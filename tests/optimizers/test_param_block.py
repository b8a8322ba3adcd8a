"""scale_by_param_block_norm / _rms against Optax and by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax


@pytest.mark.parametrize(
    "name", ["scale_by_param_block_norm", "scale_by_param_block_rms"]
)
@pytest.mark.parametrize("min_scale", [1e-3, 0.5])
def test_matches_optax(name, min_scale):
    compare_with_optax(lambda lib: getattr(lib, name)(min_scale))


def test_by_hand_and_min_scale():
    params = {"a": jnp.asarray([3.0, 4.0]), "z": jnp.zeros(3)}
    updates = {"a": jnp.ones(2), "z": jnp.ones(3)}
    tx = tsx.scale_by_param_block_norm(min_scale=0.25)
    out, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(out["a"], [5.0, 5.0])
    np.testing.assert_allclose(out["z"], [0.25] * 3)
    tx = tsx.scale_by_param_block_rms(min_scale=0.25)
    out, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(out["a"], [np.sqrt(12.5)] * 2, rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["scale_by_param_block_norm", "scale_by_param_block_rms"]
)
def test_needs_params_and_validates(name):
    tx = getattr(tsx, name)()
    with pytest.raises(ValueError, match="params"):
        tx.update({"a": jnp.ones(2)}, tx.init({"a": jnp.ones(2)}))
    with pytest.raises(ValueError, match="min_scale="):
        getattr(tsx, name)(-1.0)
