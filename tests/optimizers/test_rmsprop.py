"""RMSProp, scale_by_rms and scale_by_stddev against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def schedule(count):
    return 0.1 * 0.9**count


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"decay": 0.5, "eps": 1e-3, "initial_scale": 1.0},
        {"eps_in_sqrt": False, "eps": 1e-4},
        {"centered": True},
        {"centered": True, "eps_in_sqrt": False, "initial_scale": 0.5},
        {"momentum": 0.9},
        {"momentum": 0.8, "nesterov": True, "centered": True},
        {"bias_correction": True},
        # At step 1 the bias-corrected variance is exactly zero, so the
        # denominator is rounding noise plus eps: a large eps keeps the
        # comparison meaningful (Optax's jitted bias correction rounds the
        # last bit differently from an eager one).
        {"bias_correction": True, "centered": True, "decay": 0.7, "eps": 0.1},
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.rmsprop(1e-2, **kwargs), steps=6)


@pytest.mark.parametrize("centered", [False, True])
def test_schedule_learning_rate_matches_optax(centered):
    compare_with_optax(
        lambda lib: lib.rmsprop(schedule, centered=centered, momentum=0.9)
    )


@pytest.mark.parametrize("name", ["scale_by_rms", "scale_by_stddev"])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_building_blocks_match_optax(name, bias_correction):
    # eps=0.1: see the note on the centered bias-corrected case above.
    compare_with_optax(
        lambda lib: getattr(lib, name)(
            decay=0.8, eps=0.1, bias_correction=bias_correction
        )
    )


def test_state_classes_and_fields():
    params = nested_params()
    assert isinstance(tsx.scale_by_rms().init(params), tsx.ScaleByRmsState)
    state = tsx.scale_by_stddev(bias_correction=True).init(params)
    assert state._fields == ("count", "mu", "nu")
    assert isinstance(tsx.scale_by_stddev().init(params), tsx.ScaleByRStdDevState)


@pytest.mark.parametrize("centered", [False, True])
def test_nu_dtype_float32_with_bf16_params(centered):
    params = nested_params(dtype=jnp.bfloat16)
    tx = tsx.rmsprop(1e-2, centered=centered, nu_dtype=jnp.float32)
    state = tx.init(params)
    grads = jax.tree.map(lambda p: (p * 0.5).astype(jnp.bfloat16), params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state[0].nu))
    if centered:
        assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state[0].mu))
    # Optax's default stores nu in the params' dtype; tsx does the same.
    default = tsx.rmsprop(1e-2, centered=centered).init(params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(default[0].nu))


def test_nu_dtype_float32_matches_float32_math():
    # With float32 params, nu_dtype=float32 changes nothing: same as Optax.
    compare_with_optax(
        lambda lib: (
            lib.rmsprop(1e-2)
            if lib.__name__ == "optax"
            else lib.rmsprop(1e-2, nu_dtype=jnp.float32)
        )
    )


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": 0.1, "decay": 1.0}, "decay"),
        ({"learning_rate": 0.1, "decay": -0.1}, "decay"),
        ({"learning_rate": 0.1, "eps": -1e-8}, "eps"),
        ({"learning_rate": 0.1, "initial_scale": -1.0}, "initial_scale"),
        ({"learning_rate": 0.1, "momentum": -0.9}, "momentum"),
        ({"learning_rate": 0.1, "centered": True, "decay": 2.0}, "decay"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.rmsprop(**kwargs)


def test_building_blocks_validate_too():
    with pytest.raises(ValueError, match="decay"):
        tsx.scale_by_rms(decay=1.5)
    with pytest.raises(ValueError, match="eps"):
        tsx.scale_by_stddev(eps=-1.0)
