"""scale_by_distance_over_gradients against Optax."""

import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reps_rel": 1e-2, "eps": 1e-4, "global_scale": -1.0},
        {"param_dtype": jnp.bfloat16, "global_scale": -0.5},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(
        lambda lib: lib.scale_by_distance_over_gradients(**kwargs), steps=6
    )


def test_in_a_chain_with_learning_rate_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(
            lib.scale_by_distance_over_gradients(reps_rel=1e-3),
            lib.scale_by_learning_rate(lambda c: 1.0 / (1.0 + c)),
        )
    )


def test_state_fields():
    from tests.oracle import nested_params

    state = tsx.scale_by_distance_over_gradients().init(nested_params())
    assert isinstance(state, tsx.ScaleByDistanceOverGradientsState)
    assert state._fields == ("max_dist", "grad_sum_of_squares", "init_params")


@pytest.mark.parametrize("arg", ["reps_rel", "eps"])
def test_bad_hyperparameters_fail_at_construction(arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.scale_by_distance_over_gradients(**{arg: -1.0})
