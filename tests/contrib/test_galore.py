"""GaLore against Optax: SVD projections, dimension numbers, state layout."""

import jax
import jax.numpy as jnp
import pytest

import tsx
from tests.oracle import compare_with_optax


def _params():
    ks = jax.random.split(jax.random.PRNGKey(7), 4)
    return {
        "tall": jax.random.normal(ks[0], (6, 4)),
        "wide": jax.random.normal(ks[1], (3, 5)),
        "bias": jax.random.normal(ks[2], (5,)),
        "conv": jax.random.normal(ks[3], (2, 3, 3, 4)),
    }


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.galore(1e-2), params=_params(), jit=True)


def test_low_rank_refresh_and_schedule_match_optax():
    # rank 2 < min(m, n): both the left (tall) and right (wide) projectors
    # are truncated; gap 2 refreshes the SVD at steps 0, 2 and 4.
    compare_with_optax(
        lambda lib: lib.contrib.galore(
            lambda c: 0.1 * 0.9**c,
            rank=2,
            update_proj_gap=2,
            scale=0.5,
            weight_decay=0.1,
        ),
        params=_params(),
        steps=6,
        jit=True,
    )


def test_dimension_numbers_tree_and_base_optimizer_match_optax():
    def dims(lib):
        d = lib.contrib.GaLoreDimensionNumbers
        return {
            "tall": d(1, 0),
            "wide": None,
            "bias": None,
            "conv": d(reduction_axis=(0, 1, 2), output_axis=-1),
        }

    compare_with_optax(
        lambda lib: lib.contrib.galore(
            1e-2,
            rank=3,
            base_optimizer=lib.scale_by_adam(b1=0.5),
            weight_dimension_numbers=dims(lib),
        ),
        params=_params(),
        jit=True,
    )


def test_dimension_numbers_callable_matches_optax():
    def dims_fn(lib):
        d = lib.contrib.GaLoreDimensionNumbers
        return lambda p: jax.tree.map(lambda x: d() if x.ndim == 2 else None, p)

    compare_with_optax(
        lambda lib: lib.contrib.scale_by_galore(
            rank=1, weight_dimension_numbers=dims_fn(lib)
        ),
        params=_params(),
        jit=True,
    )


def test_single_dimension_numbers_apply_to_every_tensor_of_rank_2_or_more():
    # One spec applies to every leaf of rank >= 2 (here the 4-D kernel, seen
    # as a 2 x 36 matrix, so the right projector is 36 x rank); 1-D leaves
    # go to the base optimizer whole.
    params = {"conv": _params()["conv"], "bias": _params()["bias"]}

    def make(lib):
        spec = lib.contrib.GaLoreDimensionNumbers(
            reduction_axis=0, output_axis=(1, 2, 3)
        )
        return lib.contrib.scale_by_galore(rank=2, weight_dimension_numbers=spec)

    compare_with_optax(make, params=params, jit=True)
    state = make(tsx).init(params)
    assert state.projector["conv"].shape == (36, 2)
    assert state.projector["bias"].shape == (0, 0)


@pytest.mark.parametrize(
    "kwargs,arg,error",
    [
        (dict(learning_rate=-1.0), "learning_rate", ValueError),
        (dict(learning_rate=1e-2, rank=0), "rank", ValueError),
        (dict(learning_rate=1e-2, rank=2.5), "rank", TypeError),
        (dict(learning_rate=1e-2, update_proj_gap=0), "update_proj_gap", ValueError),
        (dict(learning_rate=1e-2, weight_decay=-1.0), "weight_decay", ValueError),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg, error):
    with pytest.raises(error, match=arg):
        tsx.contrib.galore(**kwargs)


def test_projector_is_orthonormal_top_singular_basis():
    g = jax.random.normal(jax.random.PRNGKey(0), (8, 5))
    tx = tsx.contrib.scale_by_galore(rank=2, base_optimizer=tsx.identity())
    state = tx.init({"w": g})
    update, state = tx.update({"w": g}, state)
    p = state.projector["w"]
    assert p.shape == (8, 2)
    assert jnp.allclose(p.T @ p, jnp.eye(2), atol=1e-5)
    # With the identity base optimizer the update is the rank-2 truncation.
    u, s, vh = jnp.linalg.svd(g, full_matrices=False)
    assert jnp.allclose(update["w"], (u[:, :2] * s[:2]) @ vh[:2], atol=1e-5)
