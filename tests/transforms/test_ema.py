"""ema against Optax and against the formula worked by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax


@pytest.mark.parametrize("debias", [True, False])
def test_ema_in_chain_matches_optax(debias):
    compare_with_optax(
        lambda lib: lib.chain(lib.ema(0.8, debias=debias), lib.scale(-0.1)),
        jit=True,
        steps=6,
    )


def test_ema_accumulator_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.ema(0.9, accumulator_dtype=jnp.bfloat16), rtol=1e-2, atol=1e-2
    )


def test_ema_by_hand():
    tx = tsx.ema(0.5)
    state = tx.init(jnp.zeros(()))
    out1, state = tx.update(jnp.array(2.0), state)
    out2, state = tx.update(jnp.array(4.0), state)
    # m1 = 1, m2 = 0.5 * 1 + 0.5 * 4 = 2.5; debiased by 1 - 0.5 and 1 - 0.25.
    np.testing.assert_allclose([out1, out2], [2.0, 2.5 / 0.75], rtol=1e-6)
    np.testing.assert_allclose(state.ema, 2.5)
    assert int(state.count) == 2

    raw = tsx.ema(0.5, debias=False)
    out, _ = raw.update(jnp.array(2.0), raw.init(jnp.zeros(())))
    np.testing.assert_allclose(out, 1.0)


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_bad_decay_raises(decay):
    with pytest.raises(ValueError, match="decay"):
        tsx.ema(decay)
