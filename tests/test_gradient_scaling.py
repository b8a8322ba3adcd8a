"""scale_gradient against Optax and against the chain rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx


@pytest.mark.parametrize("scale", [0.0, 0.5, -2.0])
def test_scale_gradient_matches_optax_and_chain_rule(scale):
    x = {"a": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}

    def loss(lib, x):
        y = lib.scale_gradient(x, scale)
        return jnp.sum(y["a"] ** 2) + y["b"] ** 3

    ours = jax.grad(lambda x: loss(tsx, x))(x)
    theirs = jax.grad(lambda x: loss(optax, x))(x)
    # d/dx of sum(x^2) + b^3 is (2x, 3b^2), times the scale.
    np.testing.assert_allclose(ours["a"], scale * 2 * x["a"])
    np.testing.assert_allclose(ours["b"], scale * 3 * x["b"] ** 2)
    for k in x:
        np.testing.assert_allclose(ours[k], theirs[k])
    # The forward pass is the identity.
    assert float(loss(tsx, x)) == pytest.approx(float(loss(optax, x)))
