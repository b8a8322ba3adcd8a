"""split_real_and_imaginary against Optax on complex parameters."""

import jax
import jax.numpy as jnp

from tests.oracle import compare_with_optax


def _complex_params():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    return {
        "z": jax.random.normal(k1, (4, 3)) + 1j * jax.random.normal(k2, (4, 3)),
        "real": jax.random.normal(k3, (5,)),
    }


def test_split_adam_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.split_real_and_imaginary(lib.adam(1e-2)),
        params=_complex_params(),
    )


def test_split_state_holds_real_pairs():
    import tsx

    params = _complex_params()
    state = tsx.contrib.split_real_and_imaginary(tsx.adam(1e-2)).init(params)
    mu = state.inner_state[0].mu
    assert isinstance(mu["z"], tsx.contrib._complex_valued.SplitRealAndImaginaryArrays)
    assert mu["z"].real.dtype == jnp.float32
    assert mu["real"].dtype == jnp.float32
