"""SAM and normalize against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax, grads_at


def test_normalize_matches_optax():
    compare_with_optax(lambda lib: lib.contrib.normalize())


def test_normalize_gives_unit_global_norm():
    g = grads_at({"a": jnp.ones((3, 2)), "b": jnp.ones(4)}, 0)
    tx = tsx.contrib.normalize()
    u, _ = tx.update(g, tx.init(g))
    assert jnp.allclose(tsx.tree_utils.tree_norm(u), 1.0, atol=1e-6)


def _sam(lib, **kwargs):
    return lib.contrib.sam(
        lib.sgd(0.1, momentum=0.9),
        lib.chain(lib.contrib.normalize(), lib.sgd(0.05)),
        **kwargs,
    )


def test_transparent_defaults_match_optax():
    compare_with_optax(lambda lib: _sam(lib), steps=6, jit=True)


def test_transparent_sync_period_3_without_reset_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.sam(
            lib.adam(lambda c: 0.1 * 0.9**c),
            lib.chain(lib.contrib.normalize(), lib.adam(0.05)),
            sync_period=3,
            reset_state=False,
        ),
        steps=7,
        jit=True,
    )


def test_opaque_mode_matches_optax():
    def grad_fn(params, i):
        return grads_at(params, 100 + i)

    compare_with_optax(
        lambda lib: _sam(lib, sync_period=3, opaque_mode=True),
        extra_args=lambda step, p: {"grad_fn": grad_fn},
        steps=5,
    )


def test_opaque_mode_needs_grad_fn():
    tx = _sam(tsx, opaque_mode=True)
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(params, tx.init(params), params)


def test_bad_sync_period_fails_at_construction():
    with pytest.raises(ValueError, match="sync_period"):
        _sam(tsx, sync_period=0)


def test_transparent_mode_alternates_adversarial_and_real_steps():
    # Derived by hand for sync_period=2 with plain SGD both ways on f = x^2/2:
    # step 0 climbs to x~ = x + rho g/|g|; step 1 returns to x - lr * f'(x~).
    rho, lr = 0.5, 0.1
    tx = tsx.contrib.sam(tsx.sgd(lr), tsx.chain(tsx.contrib.normalize(), tsx.sgd(rho)))
    x = jnp.array([2.0])
    state = tx.init(x)
    u, state = tx.update(x, state, x)  # gradient of x^2/2 is x
    x_adv = x + u
    assert jnp.allclose(x_adv, x + rho)
    u, state = tx.update(x_adv, state, x_adv)
    assert jnp.allclose(x_adv + u, x - lr * x_adv)
    assert jax.tree.leaves(state.cache)[0].shape == (1,)
