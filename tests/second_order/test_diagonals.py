"""hvp, hessian_diag and fisher_diag against Optax (and the deprecation warning)."""

import warnings

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

KEYS = jax.random.split(jax.random.PRNGKey(0), 4)
PARAMS = {
    "w": jax.random.normal(KEYS[0], (3, 2)),
    "b": jax.random.normal(KEYS[1], (2,)),
}
INPUTS = jax.random.normal(KEYS[2], (5, 3))
TARGETS = jax.random.normal(KEYS[3], (5, 2))


def loss(params, inputs, targets):
    pred = jnp.tanh(inputs @ params["w"] + params["b"])
    return jnp.mean((pred - targets) ** 2)


def _both(name, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return (
            getattr(tsx.second_order, name)(*args),
            getattr(optax.second_order, name)(*args),
        )


def test_hvp():
    v = jnp.linspace(-1.0, 1.0, 8)
    ours, theirs = _both("hvp", loss, v, PARAMS, INPUTS, TARGETS)
    assert_same(ours, theirs)
    jit_ours = jax.jit(
        lambda v: tsx.second_order.hvp(loss, v, PARAMS, INPUTS, TARGETS)
    )(v)
    assert_same(jit_ours, theirs)


@pytest.mark.parametrize("name", ["hessian_diag", "fisher_diag"])
def test_diagonals(name):
    ours, theirs = _both(name, loss, PARAMS, INPUTS, TARGETS)
    assert ours.shape == (8,)
    assert_same(ours, theirs)


def test_hessian_diag_matches_full_hessian():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        diag = tsx.second_order.hessian_diag(loss, PARAMS, INPUTS, TARGETS)
    flat, unravel = jax.flatten_util.ravel_pytree(PARAMS)
    full = jax.hessian(lambda f: loss(unravel(f), INPUTS, TARGETS))(flat)
    assert_same(diag, jnp.diag(full), atol=1e-6)


@pytest.mark.parametrize("name", ["hvp", "hessian_diag", "fisher_diag"])
def test_deprecation_warning(name):
    args = (loss, jnp.ones(8)) if name == "hvp" else (loss,)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        getattr(tsx.second_order, name)(*args, PARAMS, INPUTS, TARGETS)


def test_namespace_has_every_optax_name_with_same_signatures():
    public = public_names(optax.second_order)
    missing = public - set(tsx.second_order.__all__)
    assert not missing, sorted(missing)
    assert_signatures_match(tsx.second_order, optax.second_order, public)
