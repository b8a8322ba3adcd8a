"""``scale_by_learning_rate``'s defaults, against Optax."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx


def test_no_learning_rate_is_the_identity_like_optax():
    g = {"w": jnp.array([1.5, -2.0]), "b": jnp.array(0.25)}
    for lib in (tsx, optax):
        tx = lib.scale_by_learning_rate()
        u, _ = tx.update(g, tx.init(g))
        np.testing.assert_array_equal(u["w"], g["w"])
        np.testing.assert_array_equal(u["b"], g["b"])


@pytest.mark.parametrize("flip_sign", [True, False])
def test_a_learning_rate_scales_like_optax(flip_sign):
    g = {"w": jnp.array([1.5, -2.0])}
    got, _ = tsx.scale_by_learning_rate(0.1, flip_sign=flip_sign).update(
        g, tsx.EmptyState()
    )
    tx = optax.scale_by_learning_rate(0.1, flip_sign=flip_sign)
    want, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(got["w"], want["w"], rtol=1e-6)
    np.testing.assert_allclose(got["w"], [-0.15, 0.2] if flip_sign else [0.15, -0.2])
