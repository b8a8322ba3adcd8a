"""Shared pieces of the optimizer tests (schedule, nu_dtype checks)."""

import jax
import jax.numpy as jnp

from tests.oracle import grads_at, nested_params


def schedule(count):
    """A plain function of the step count: a schedule in both libraries."""
    return 0.1 * 0.9**count


def assert_nu_dtype_kept(tx, fields, steps=2, other_fields=(), index=0):
    """bf16 params: the named state fields hold float32 after ``steps`` updates.

    ``fields`` name the second-moment fields of ``state[index]``; ``other_fields``
    name fields that must stay in the params' dtype (bfloat16).
    """
    params = nested_params(dtype=jnp.bfloat16)
    state = tx.init(params)
    for step in range(steps + 1):
        inner = state[index]
        for name in fields:
            leaves = jax.tree.leaves(getattr(inner, name))
            assert leaves, name
            assert all(x.dtype == jnp.float32 for x in leaves), (step, name)
        for name in other_fields:
            leaves = jax.tree.leaves(getattr(inner, name))
            assert all(x.dtype == jnp.bfloat16 for x in leaves), (step, name)
        if step < steps:
            updates, state = tx.update(grads_at(params, step), state, params)
            assert all(jnp.isfinite(u).all() for u in jax.tree.leaves(updates))


def assert_default_nu_dtype_is_params(tx, fields, index=0):
    """Without nu_dtype the second moment takes the params' dtype, as in Optax."""
    params = nested_params(dtype=jnp.bfloat16)
    inner = tx.init(params)[index]
    for name in fields:
        assert all(
            x.dtype == jnp.bfloat16 for x in jax.tree.leaves(getattr(inner, name))
        )
