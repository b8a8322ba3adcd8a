"""Adafactor and scale_by_factored_rms against Optax."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def schedule(count):
    return 0.1 * 0.9**count


def big_params():
    # Shapes with and without two large axes, including a tie in size and a
    # 3-D leaf whose largest axis comes first.
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    return {
        "embed": jax.random.normal(keys[0], (6, 4)),
        "square": jax.random.normal(keys[1], (4, 4)),
        "cube": jax.random.normal(keys[2], (5, 2, 3)),
        "bias": jax.random.normal(keys[3], (6,)),
        "scale": jnp.asarray(1.5),
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.05},
        {"learning_rate": 0.05, "min_dim_size_to_factor": 3},
        {
            "learning_rate": 0.05,
            "min_dim_size_to_factor": 2,
            "decay_rate": 0.6,
            "decay_offset": 2,
            "multiply_by_parameter_scale": False,
            "clipping_threshold": None,
            "eps": 1e-20,
        },
        {
            "learning_rate": 0.05,
            "momentum": 0.9,
            "weight_decay_rate": 0.01,
            "min_dim_size_to_factor": 3,
        },
        {"learning_rate": 0.05, "factored": False, "clipping_threshold": 0.5},
        {
            "learning_rate": 0.05,
            "weight_decay_rate": 0.1,
            "weight_decay_mask": lambda p: jax.tree.map(lambda x: x.ndim > 1, p),
        },
    ],
)
def test_matches_optax(kwargs):
    compare_with_optax(lambda lib: lib.adafactor(**kwargs), params=big_params())


def test_nested_params_match_optax():
    compare_with_optax(
        lambda lib: lib.adafactor(0.05, min_dim_size_to_factor=3, momentum=0.5)
    )


def test_schedule_learning_rate_matches_optax():
    compare_with_optax(
        lambda lib: lib.adafactor(schedule, min_dim_size_to_factor=3),
        params=big_params(),
    )


def test_momentum_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.adafactor(0.05, momentum=0.9, dtype_momentum=jnp.bfloat16),
        rtol=1e-2,
        atol=1e-2,
    )


@pytest.mark.parametrize("factored", [True, False])
def test_building_block_matches_optax(factored):
    compare_with_optax(
        lambda lib: lib.scale_by_factored_rms(
            factored=factored, min_dim_size_to_factor=4, epsilon=1e-10
        ),
        params=big_params(),
    )


def test_custom_decay_rate_fn_matches_optax():
    def capped(step, rate):
        return jnp.minimum(rate, 1.0 - 1.0 / (step + 1.0))

    compare_with_optax(
        lambda lib: lib.scale_by_factored_rms(
            decay_rate=0.95, min_dim_size_to_factor=2, decay_rate_fn=capped
        ),
        params=big_params(),
    )


def test_factored_state_shapes():
    params = big_params()
    state = tsx.scale_by_factored_rms(min_dim_size_to_factor=4).init(params)
    assert isinstance(state, tsx.FactoredState)
    # (6, 4): rows keep the second-largest axis, cols the largest.
    assert state.v_row["embed"].shape == (4,)
    assert state.v_col["embed"].shape == (6,)
    assert state.v["embed"].shape == (1,)
    assert state.v["bias"].shape == (6,)
    assert state.v_row["bias"].shape == (1,)


def test_nu_dtype_float32_with_bf16_params():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), big_params())
    tx = tsx.adafactor(0.05, min_dim_size_to_factor=3, nu_dtype=jnp.float32)
    state = tx.init(params)
    stats = state[0]
    leaves = jax.tree.leaves((stats.v_row, stats.v_col, stats.v))
    assert leaves and all(x.dtype == jnp.float32 for x in leaves)
    grads = jax.tree.map(lambda p: p * 0.3, params)
    _, state = tx.update(grads, state, params)
    leaves = jax.tree.leaves((state[0].v_row, state[0].v_col, state[0].v))
    assert all(x.dtype == jnp.float32 for x in leaves)
    default = tsx.adafactor(0.05, min_dim_size_to_factor=3).init(params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(default[0].v))


def test_needs_params():
    tx = tsx.scale_by_factored_rms()
    params = nested_params()
    with pytest.raises(ValueError, match="params"):
        tx.update(params, tx.init(params))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"decay_rate": -0.8}, "decay_rate"),
        ({"eps": -1e-30}, "eps"),
        ({"clipping_threshold": 0.0}, "clipping_threshold"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay_rate": -0.1}, "weight_decay_rate"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}="):
        tsx.adafactor(**kwargs)


def test_unusual_but_valid_values_are_accepted():
    tsx.adafactor(learning_rate=None, clipping_threshold=None, momentum=0.0)
    tsx.scale_by_factored_rms(decay_rate=-1.0, decay_rate_fn=lambda s, r: 0.5)
