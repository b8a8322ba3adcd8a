"""Both Hungarian algorithms against Optax (same indices, order and dtypes)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.losses.helpers import assert_signatures_match, public_names

NAMES = ["hungarian_algorithm", "base_hungarian_algorithm"]
SHAPES = [(1, 1), (5, 5), (3, 6), (6, 3)]


def _compare(name, cost, jit=True):
    ours = getattr(tsx.assignment, name)
    theirs = getattr(optax.assignment, name)
    if jit:  # Eagerly, every loop body would be compiled anyway.
        ours, theirs = jax.jit(ours), jax.jit(theirs)
    got, want = ours(cost), theirs(cost)
    for x, y in zip(got, want, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    return got


def _brute_force_cost(cost):
    cost = np.asarray(cost)
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    import itertools

    return min(
        sum(c[i, j] for i, j in enumerate(cols))
        for cols in itertools.permutations(range(c.shape[1]), c.shape[0])
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_random_float_costs(name, shape):
    cost = jax.random.normal(jax.random.PRNGKey(sum(shape)), shape)
    i, j = _compare(name, cost)
    assert len(i) == min(shape)
    assert np.isclose(float(cost[i, j].sum()), _brute_force_cost(cost), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(4, 4), (5, 3)])
def test_integer_costs_with_ties(name, shape):
    cost = jax.random.randint(jax.random.PRNGKey(1), shape, 0, 3)
    i, j = _compare(name, cost)
    assert int(cost[i, j].sum()) == _brute_force_cost(cost)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_batch(name):
    costs = jax.random.uniform(jax.random.PRNGKey(4), (2, 2, 3))
    got = jax.jit(jax.vmap(getattr(tsx.assignment, name)))(costs)
    want = jax.jit(jax.vmap(getattr(optax.assignment, name)))(costs)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", NAMES)
def test_documented_example(name):
    cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
    i, j = _compare(name, cost)
    assert int(cost[i, j].sum()) == 15


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty(name, shape):
    _compare(name, jnp.zeros(shape), jit=False)


def test_namespace_has_every_optax_name_with_same_signatures():
    public = public_names(optax.assignment)
    missing = public - set(tsx.assignment.__all__)
    assert not missing, sorted(missing)
    assert_signatures_match(tsx.assignment, optax.assignment, public)
