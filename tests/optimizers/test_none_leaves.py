"""None leaves (e.g. frozen or absent parameters) flow through as in Optax.

Every optimizer of this part keeps a ``None`` leaf as ``None`` in the updates
and the state, and matches Optax's numbers on the other leaves.
"""

import jax.numpy as jnp
import pytest

from tests.oracle import compare_with_optax, nested_params

CASES = {
    "rmsprop": lambda lib: lib.rmsprop(0.1, centered=True, momentum=0.9),
    "adafactor": lambda lib: lib.adafactor(0.1, min_dim_size_to_factor=3),
    "lion": lambda lib: lib.lion(0.1),
    "adabelief": lambda lib: lib.adabelief(0.1, nesterov=True),
    "adadelta": lambda lib: lib.adadelta(0.1, weight_decay=0.1),
    "adagrad": lambda lib: lib.adagrad(0.1),
    "adamaxw": lambda lib: lib.adamaxw(0.1),
    "adan": lambda lib: lib.adan(0.1, weight_decay=0.1),
    "amsgrad": lambda lib: lib.amsgrad(0.1),
    "fromage": lambda lib: lib.fromage(0.1),
    "lamb": lambda lib: lib.lamb(0.1, weight_decay=0.1),
    "lars": lambda lib: lib.lars(0.1, weight_decay=0.1),
    "novograd": lambda lib: lib.novograd(0.1),
    "noisy_sgd": lambda lib: lib.noisy_sgd(0.1, key=1),
    "sign_sgd": lambda lib: lib.sign_sgd(0.1),
    "signum": lambda lib: lib.signum(0.1),
    "sgd": lambda lib: lib.sgd(0.1, momentum=0.9, nesterov=True),
    "normalize_by_update_norm": lambda lib: lib.normalize_by_update_norm(),
    "distance_over_gradients": lambda lib: lib.scale_by_distance_over_gradients(),
    "param_block_rms": lambda lib: lib.scale_by_param_block_rms(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_leaves_match_optax(name):
    params = {**nested_params(), "frozen": None, "bias": jnp.ones(2)}
    # compare_with_optax also asserts None sits in the same places.
    compare_with_optax(CASES[name], params=params, steps=3)
