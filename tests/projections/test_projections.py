"""The twelve projections against Optax: values, jit, gradients, namespace."""

import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.losses.helpers import (
    assert_same,
    assert_signatures_match,
    public_names,
)
from tests.oracle import nested_params

PARAMS = nested_params()
SMALL = jax.tree.map(lambda x: 0.01 * x, PARAMS)
VEC = jnp.array([2.5, -3.2, 0.5, 0.0, 1e-3])
DIRECTION = jax.tree.map(lambda x: jnp.cos(x) + 0.5, nested_params(seed=1))


def _compare(name, *args, grad=True, eager=False, **kwargs):
    """Optax vs tsx under jit: the projection and the gradient of a fixed
    linear functional of it, in one compiled function per library."""
    ours = getattr(tsx.projections, name)
    theirs = getattr(optax.projections, name)
    if eager:
        assert_same(ours(*args, **kwargs), theirs(*args, **kwargs), msg=name)

    def run(fn):
        def value_and_grad(x, *rest):
            def objective(y):
                out = fn(y, *rest, **kwargs)
                return sum(
                    jnp.vdot(jnp.sin(jnp.arange(leaf.size)), jnp.ravel(leaf))
                    for leaf in jax.tree.leaves(out)
                )

            value = fn(x, *rest, **kwargs)
            return value, (jax.grad(objective)(x) if grad else None)

        return jax.jit(value_and_grad)(*args)

    assert_same(run(ours), run(theirs), msg=name)


@pytest.mark.parametrize("tree", [PARAMS, VEC])
def test_projection_non_negative(tree):
    _compare("projection_non_negative", tree)


def test_projection_box():
    _compare("projection_box", VEC, -0.5, 0.7)
    _compare("projection_box", VEC, jnp.zeros(5), jnp.arange(5.0))
    lower = jax.tree.map(lambda x: -jnp.abs(x) * 0.5, DIRECTION)
    upper = jax.tree.map(lambda x: jnp.abs(x), DIRECTION)
    _compare("projection_box", PARAMS, lower, upper)


@pytest.mark.parametrize("scale", [None, 0.3])
def test_projection_hypercube(scale):
    kwargs = {} if scale is None else {"scale": scale}
    _compare("projection_hypercube", VEC, **kwargs)


def test_scalar_bounds_apply_to_every_leaf_of_a_tree():
    # Optax documents scalar bounds but only accepts them for a single array;
    # tsx broadcasts them to every leaf (compared with explicit tree bounds).
    for ours, theirs in [
        (
            tsx.projections.projection_box(PARAMS, -0.5, 0.7),
            optax.projections.projection_box(
                PARAMS,
                jax.tree.map(lambda _: -0.5, PARAMS),
                jax.tree.map(lambda _: 0.7, PARAMS),
            ),
        ),
        (
            tsx.projections.projection_hypercube(PARAMS, 0.3),
            optax.projections.projection_box(
                PARAMS,
                jax.tree.map(lambda _: 0.0, PARAMS),
                jax.tree.map(lambda _: 0.3, PARAMS),
            ),
        ),
    ]:
        assert_same(ours, theirs)


@pytest.mark.parametrize(
    "name",
    [
        "projection_simplex",
        "projection_l1_sphere",
        "projection_l1_ball",
        "projection_l2_sphere",
        "projection_l2_ball",
        "projection_linf_ball",
    ],
)
@pytest.mark.parametrize(
    "tree,scale",
    [(PARAMS, None), (SMALL, 2.5), (VEC, 2.5)],
    ids=["tree-unit", "inside-ball", "vector"],
)
def test_norm_ball_projections(name, scale, tree):
    kwargs = {} if scale is None else {"scale": scale}
    _compare(name, tree, eager=tree is VEC, **kwargs)


def test_projection_simplex_properties():
    out = tsx.projections.projection_simplex({"w": VEC, "b": jnp.array(0.5)}, 3.0)
    leaves = jax.tree.leaves(out)
    assert all(jnp.all(x >= 0) for x in leaves)
    assert jnp.allclose(sum(jnp.sum(x) for x in leaves), 3.0)


@pytest.mark.parametrize("name", ["projection_hyperplane", "projection_halfspace"])
@pytest.mark.parametrize("b", [-10.0, 100.0])
def test_affine_projections(name, b):
    _compare(name, PARAMS, DIRECTION, b)


def test_projection_vector():
    _compare("projection_vector", PARAMS, DIRECTION)
    _compare("projection_vector", VEC, jnp.ones_like(VEC))


def test_namespace_has_every_optax_name_with_same_signatures():
    public = public_names(optax.projections)
    assert len(public) == 12
    missing = public - set(tsx.projections.__all__)
    assert not missing, sorted(missing)
    assert_signatures_match(tsx.projections, optax.projections, public)
