"""make_perturbed_fun, Gumbel and Normal against Optax with the same PRNG keys."""

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

KEY = jax.random.PRNGKey(0)
X = {"a": jnp.array([0.3, -0.2, 0.1]), "b": jnp.array([[1.0, -1.0], [0.5, 0.0]])}


def argmax_one_hot(tree):
    # Piecewise constant: its gradient is zero almost everywhere.
    return jax.tree.map(lambda v: jax.nn.one_hot(jnp.argmax(v), v.size), tree)


def relu_sum(tree):
    return sum(jnp.sum(jnp.maximum(v, 0.0)) for v in jax.tree.leaves(tree))


@pytest.mark.parametrize("noise", ["Gumbel", "Normal"])
def test_noise_sample_and_log_prob(noise):
    ours, theirs = (
        getattr(tsx.perturbations, noise)(),
        getattr(optax.perturbations, noise)(),
    )
    for shape, dtype in [((), float), ((3, 2), jnp.float32), ((4,), jnp.bfloat16)]:
        assert_same(ours.sample(KEY, shape, dtype), theirs.sample(KEY, shape, dtype))
    z = jnp.linspace(-3.0, 3.0, 7)
    assert_same(ours.log_prob(z), theirs.log_prob(z))
    assert_same(ours.sample(KEY), theirs.sample(KEY))


@pytest.mark.parametrize(
    "fun,kwargs",
    [
        (argmax_one_hot, {}),  # defaults: Gumbel noise, 1000 samples, baseline
        (
            relu_sum,
            {"num_samples": 32, "sigma": 0.5, "noise": "Normal", "use_baseline": False},
        ),
    ],
)
def test_make_perturbed_fun_values_and_gradients(fun, kwargs):
    def run(lib):
        kw = dict(kwargs)
        if "noise" in kw:
            kw["noise"] = getattr(lib.perturbations, kw["noise"])()
        perturbed = lib.perturbations.make_perturbed_fun(fun, **kw)

        def scalar(x):
            return sum(
                jnp.sum(jnp.sin(jnp.arange(v.size)) * jnp.ravel(v))
                for v in jax.tree.leaves(perturbed(KEY, x))
            )

        # One compilation per library: value and gradient together.
        return jax.jit(lambda x: (perturbed(KEY, x), jax.grad(scalar)(x)))(X)

    (value, grad), (want_value, want_grad) = run(tsx), run(optax)
    assert_same(value, want_value)
    assert_same(grad, want_grad, atol=1e-5)


def test_make_perturbed_fun_second_derivative():
    f = lambda x: jnp.sum(jnp.abs(x) ** 3)  # noqa: E731
    x = jnp.array([0.2, -0.4])

    def hessian(lib):
        g = lib.perturbations.make_perturbed_fun(f, num_samples=20, sigma=0.3)
        return jax.jit(jax.hessian(lambda y: g(KEY, y)))(x)

    assert_same(hessian(tsx), hessian(optax), atol=1e-4)


def test_namespace_has_every_optax_name_with_same_signatures():
    public = public_names(optax.perturbations)
    missing = public - set(tsx.perturbations.__all__)
    assert not missing, sorted(missing)
    assert_signatures_match(tsx.perturbations, optax.perturbations, public)
