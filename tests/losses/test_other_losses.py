"""Ranking, Fenchel-Young, self-supervised losses and label smoothing vs Optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp

import tsx
from tests.losses.helpers import assert_same, check_loss

KEY = jax.random.PRNGKey(0)
SCORES = jax.random.normal(KEY, (3, 5))
RELEVANCE = jnp.array([[1.0, 0, 0, 2, 0], [0, 0, 0, 0, 1], [0, 1, 1, 0, 0]])
WHERE = jnp.array(
    [[True, True, False, True, True], [False] * 5, [True, True, True, False, True]]
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"where": WHERE},
        {"weights": jnp.arange(15.0).reshape(3, 5) / 10},
        {"reduce_fn": jnp.sum, "where": WHERE},
        {"reduce_fn": None, "where": WHERE},
        {"reduce_fn": None},
    ],
)
def test_ranking_softmax_loss(kwargs):
    check_loss("ranking_softmax_loss", SCORES, RELEVANCE, grad_argnums=0, **kwargs)


def test_ranking_softmax_loss_all_masked_and_1d():
    out = check_loss(
        "ranking_softmax_loss",
        SCORES,
        RELEVANCE,
        where=jnp.zeros((3, 5), bool),
        eager=True,
    )
    assert out == 0.0
    check_loss("ranking_softmax_loss", SCORES[0], RELEVANCE[0].astype(jnp.int32))
    check_loss("ranking_softmax_loss", SCORES * 1e4, RELEVANCE, grad_argnums=0)


@pytest.mark.parametrize("max_fun", [logsumexp, jnp.max])
def test_make_fenchel_young_loss(max_fun):
    ours = tsx.losses.make_fenchel_young_loss(max_fun)
    theirs = optax.losses.make_fenchel_young_loss(max_fun)
    targets = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(2), (3, 5)))
    assert_same(jax.jit(ours)(SCORES, targets), jax.jit(theirs)(SCORES, targets))
    grad = lambda f: jax.jit(jax.grad(lambda s: f(s, targets).sum()))(SCORES)
    assert_same(grad(ours), grad(theirs))
    scores3 = jax.random.normal(KEY, (2, 3, 5))
    targets3 = jnp.broadcast_to(targets, (2, 3, 5))
    assert_same(ours(scores3, targets3), theirs(scores3, targets3))


def test_fenchel_young_forwards_extra_arguments():
    def scaled_lse(x, *, temperature=1.0, shift=0.0):
        return temperature * logsumexp(x / temperature) + shift

    ours = tsx.losses.make_fenchel_young_loss(scaled_lse)
    theirs = optax.losses.make_fenchel_young_loss(scaled_lse)
    targets = jax.nn.one_hot(jnp.array([1, 0, 4]), 5)
    assert_same(
        ours(SCORES, targets, temperature=0.5, shift=1.0),
        theirs(SCORES, targets, temperature=0.5, shift=1.0),
    )


@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_ntxent(temperature):
    emb = jax.random.normal(KEY, (6, 3))
    labels = jnp.array([0, 0, 1, 1, 2, 2])
    check_loss("ntxent", emb, labels, temperature, grad_argnums=0, eager=True)


def test_ntxent_groups_and_degenerate_embeddings():
    emb = jax.random.normal(KEY, (5, 4)).at[1].set(0.0).at[2].multiply(1e4)
    labels = jnp.array([1, 1, 1, 0, 0])
    check_loss("ntxent", emb, labels, grad_argnums=0)
    with pytest.raises(ValueError, match="leading dimension"):
        tsx.losses.ntxent(emb, labels[:3])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"margin": 0.1, "eps": 1e-3},
        {"norm_degree": 4},
        {"norm_degree": 1, "axis": 0},
    ],
)
def test_triplet_margin_loss(kwargs):
    keys = jax.random.split(KEY, 3)
    a, p, n = (jax.random.normal(k, (4, 3)) for k in keys)
    check_loss("triplet_margin_loss", a, p, n, grad_argnums=(0, 1, 2), **kwargs)


def test_triplet_margin_loss_docstring_example_and_zero_distance():
    a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    p = jnp.array([[0.1, 0.1], [1.1, 1.1]])
    n = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    out = check_loss("triplet_margin_loss", a, p, n, eager=True)
    np.testing.assert_allclose(out, [0.1414, 0.1414], atol=1e-4)
    check_loss("triplet_margin_loss", a, a, n, grad_argnums=(0, 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 0},
        {"where": jnp.array([[True, True, False, True, True]] * 3)},
        {"axis": (0, 1)},
    ],
)
def test_smooth_labels(kwargs):
    labels = jax.nn.one_hot(jnp.array([0, 2, 4]), 5)
    check_loss("smooth_labels", labels, 0.1, grad_argnums=0, **kwargs)


def test_smooth_labels_eager_and_dtype_check():
    labels = jax.nn.one_hot(jnp.array([0, 2, 4]), 5)
    check_loss("smooth_labels", labels, 0.3, eager=True, jit=False)
    with pytest.raises(TypeError):
        tsx.losses.smooth_labels(jnp.array([0, 1]), 0.1)


def test_ranking_softmax_loss_minus_inf_scores_masked_by_where():
    scores = SCORES.at[:, 2].set(-jnp.inf)
    grad = check_loss(
        "ranking_softmax_loss",
        scores,
        RELEVANCE,
        where=jnp.isfinite(scores),
        grad_argnums=0,
        return_grad=True,
    )
    assert np.all(np.isfinite(grad))
