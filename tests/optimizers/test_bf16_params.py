"""bfloat16 params with default dtypes: tsx stores what Optax stores.

Without ``nu_dtype`` (or ``mu_dtype``) every moment must keep Optax's dtype
(``compare_with_optax`` compares the state layouts, dtypes included, before
and after the steps), and the updates must agree to bfloat16 precision.
"""

import jax.numpy as jnp
import pytest

from tests.oracle import compare_with_optax, nested_params

CASES = {
    "sgd": lambda lib: lib.sgd(0.1, momentum=0.9),
    "rmsprop": lambda lib: lib.rmsprop(0.1, centered=True, bias_correction=True),
    "adafactor": lambda lib: lib.adafactor(0.1, min_dim_size_to_factor=3),
    "lion": lambda lib: lib.lion(0.1),
    "adabelief": lambda lib: lib.adabelief(0.1),
    "adadelta": lambda lib: lib.adadelta(0.1),
    "adagrad": lambda lib: lib.adagrad(0.1),
    "adamax": lambda lib: lib.adamax(0.1),
    "adan": lambda lib: lib.adan(0.1),
    "amsgrad": lambda lib: lib.amsgrad(0.1),
    "lamb": lambda lib: lib.lamb(0.1),
    "novograd": lambda lib: lib.novograd(0.1),
    "signum": lambda lib: lib.signum(0.1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bf16_params_default_dtypes_match_optax(name):
    compare_with_optax(
        CASES[name], params=nested_params(dtype=jnp.bfloat16), rtol=2e-2, atol=2e-2
    )
