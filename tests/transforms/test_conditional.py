"""conditionally_transform / conditionally_mask against Optax."""

import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def _every_other(step):
    return step % 2 == 0


@pytest.mark.parametrize("name", ["conditionally_transform", "conditionally_mask"])
def test_in_chain_matches_optax(name):
    compare_with_optax(
        lambda lib: lib.chain(
            getattr(lib, name)(lib.adam(1e-2), _every_other), lib.scale(0.5)
        ),
        jit=True,
        steps=5,
    )


@pytest.mark.parametrize("name", ["conditionally_transform", "conditionally_mask"])
def test_forward_extra_args_matches_optax(name):
    def cond(step, *, gate):
        return jnp.logical_and(step >= 1, gate > 0)

    compare_with_optax(
        lambda lib: getattr(lib, name)(lib.adam(1e-2), cond, forward_extra_args=True),
        extra_args=lambda step, params: {"gate": jnp.asarray(step % 3 - 1)},
        steps=5,
        jit=True,
    )


def test_skipped_steps_by_hand():
    p = nested_params()
    g = {"a": jnp.array([1.0, -2.0])}
    for name, skipped in (
        ("conditionally_transform", [1.0, -2.0]),
        ("conditionally_mask", [0.0, 0.0]),
    ):
        tx = getattr(tsx, name)(tsx.scale(3.0), lambda step: step == 1)
        state = tx.init(p)
        u0, state = tx.update(g, state)
        u1, state = tx.update(g, state)
        np.testing.assert_allclose(u0["a"], skipped)
        np.testing.assert_allclose(u1["a"], [3.0, -6.0])
        assert int(state.step) == 2


def test_state_field_orders_match_optax():
    import optax

    for cls in ("ConditionallyTransformState", "ConditionallyMaskState"):
        assert getattr(tsx, cls)._fields == getattr(optax, cls)._fields
