"""Cross-entropy losses against Optax, including extreme logits and masks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.losses.helpers import check_loss

KEY = jax.random.PRNGKey(0)
LOGITS = jax.random.normal(KEY, (4, 5)) * 3.0
PROBS = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (4, 5)))
ONE_HOT = jax.nn.one_hot(jnp.array([0, 3, 4, 1]), 5)
INT_LABELS = jnp.array([0, 3, 4, 1])
EXTREME = jnp.array(
    [[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4, -1e4, 1e4, 1e4, 0.0]], jnp.float32
)
EXTREME_LABELS = jnp.array([[0.0, 1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.5, 0.0]])


@pytest.mark.parametrize(
    "logits,labels",
    [
        (LOGITS, (PROBS > 0.2).astype(jnp.float32)),
        (LOGITS, PROBS),
        (
            jnp.array([1e4, -1e4, 0.0, 30.0, -30.0]),
            jnp.array([0.0, 1.0, 1.0, 0.0, 1.0]),
        ),
    ],
)
def test_sigmoid_binary_cross_entropy(logits, labels):
    check_loss(
        "sigmoid_binary_cross_entropy", logits, labels, grad_argnums=(0, 1), eager=True
    )


def test_sigmoid_binary_cross_entropy_integer_labels_and_dtype_check():
    check_loss("sigmoid_binary_cross_entropy", LOGITS, (PROBS > 0.2).astype(jnp.int32))
    with pytest.raises(TypeError):
        tsx.losses.sigmoid_binary_cross_entropy(jnp.arange(3), jnp.ones(3))


@pytest.mark.parametrize("labels", [ONE_HOT, PROBS])
def test_softmax_cross_entropy(labels):
    check_loss("softmax_cross_entropy", LOGITS, labels, grad_argnums=(0, 1))


def test_softmax_cross_entropy_extreme_logits():
    out = check_loss(
        "softmax_cross_entropy",
        EXTREME,
        EXTREME_LABELS,
        grad_argnums=(0, 1),
        eager=True,
    )
    assert np.all(np.isfinite(out))


def test_softmax_cross_entropy_minus_inf_logits_masked_by_where():
    logits = LOGITS.at[:, 1].set(-jnp.inf).at[0, 4].set(-jnp.inf)
    where = jnp.isfinite(logits)
    labels = jnp.where(where, PROBS, 0.0)
    out = tsx.losses.softmax_cross_entropy(logits, labels, where=where)
    assert np.all(np.isfinite(out))
    grad = check_loss(
        "softmax_cross_entropy",
        logits,
        labels,
        where=where,
        grad_argnums=0,
        return_grad=True,
    )
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_minus_inf_without_mask_is_nan_like_optax():
    logits = LOGITS.at[0, 1].set(-jnp.inf)
    check_loss("softmax_cross_entropy", logits, ONE_HOT)


@pytest.mark.parametrize(
    "axis,where",
    [
        (0, None),
        (-1, jnp.array([True, False, True, True])),  # per-example mask
        (-1, jax.random.bernoulli(KEY, 0.7, (4, 5))),
        ((0, 1), None),
        (1, jax.random.bernoulli(jax.random.PRNGKey(3), 0.7, (4, 5))),
    ],
)
def test_softmax_cross_entropy_axis_and_where(axis, where):
    check_loss(
        "softmax_cross_entropy",
        LOGITS,
        PROBS,
        axis=axis,
        where=where,
        grad_argnums=0,
        return_grad=True,
    )


def test_softmax_cross_entropy_3d_axis():
    logits = jax.random.normal(KEY, (2, 3, 4))
    labels = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(5), (2, 3, 4)), 1)
    check_loss("softmax_cross_entropy", logits, labels, axis=1, grad_argnums=0)


def test_softmax_cross_entropy_with_integer_labels():
    check_loss(
        "softmax_cross_entropy_with_integer_labels",
        LOGITS,
        INT_LABELS,
        grad_argnums=0,
    )
    out = check_loss(
        "softmax_cross_entropy_with_integer_labels",
        EXTREME,
        jnp.array([1, 0]),
        grad_argnums=0,
        eager=True,
    )
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize(
    "where",
    [
        jnp.array([True, False, True, True]),
        jax.random.bernoulli(KEY, 0.6, (4, 5)).at[:, 0].set(True).at[3].set(False),
    ],
)
def test_softmax_cross_entropy_with_integer_labels_where(where):
    check_loss(
        "softmax_cross_entropy_with_integer_labels",
        LOGITS,
        jnp.array([0, 0, 0, 1]),
        where=where,
        grad_argnums=0,
    )


def test_softmax_cross_entropy_with_integer_labels_minus_inf_masked():
    logits = LOGITS.at[:, 2].set(-jnp.inf)
    where = jnp.isfinite(logits)
    grad = check_loss(
        "softmax_cross_entropy_with_integer_labels",
        logits,
        INT_LABELS,
        where=where,
        grad_argnums=0,
        return_grad=True,
    )
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("axis", [-2, (3, 1), (-1, -3)])
def test_softmax_cross_entropy_with_integer_labels_axes(axis):
    shape = (2, 3, 4, 5)
    logits = jax.random.normal(KEY, shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(a % 4 for a in axes)
    batch_shape = tuple(s for i, s in enumerate(shape) if i not in axes)
    num_classes = int(np.prod([shape[a] for a in axes]))
    labels = jax.random.randint(jax.random.PRNGKey(7), batch_shape, 0, num_classes)
    check_loss(
        "softmax_cross_entropy_with_integer_labels",
        logits,
        labels,
        axis=axis,
        grad_argnums=0,
    )


def test_softmax_cross_entropy_with_integer_labels_tuple_axis_and_where():
    shape = (2, 3, 4)
    logits = jax.random.normal(KEY, shape)
    where = jax.random.bernoulli(jax.random.PRNGKey(2), 0.7, shape)
    labels = jnp.array([1, 5])
    check_loss(
        "softmax_cross_entropy_with_integer_labels",
        logits,
        labels,
        axis=(1, 2),
        where=where,
    )


def test_softmax_cross_entropy_with_integer_labels_bad_input():
    with pytest.raises(ValueError, match="axis"):
        tsx.losses.softmax_cross_entropy_with_integer_labels(
            LOGITS, INT_LABELS, axis=None
        )
    with pytest.raises(TypeError):
        tsx.losses.softmax_cross_entropy_with_integer_labels(LOGITS, ONE_HOT)
    with pytest.raises(ValueError):
        tsx.losses.softmax_cross_entropy_with_integer_labels(LOGITS, INT_LABELS, axis=3)


def test_safe_softmax_cross_entropy():
    check_loss("safe_softmax_cross_entropy", LOGITS, PROBS, grad_argnums=(0, 1))
    logits = LOGITS.at[:, 1].set(-jnp.inf)
    labels = ONE_HOT.at[:, 1].set(0.0).at[3, 0].set(1.0)
    out = check_loss("safe_softmax_cross_entropy", logits, labels, grad_argnums=0)
    assert np.all(np.isfinite(out))
    grad = jax.grad(lambda x: tsx.losses.safe_softmax_cross_entropy(x, labels).sum())(
        logits
    )
    assert np.all(np.isfinite(grad))
    check_loss(
        "safe_softmax_cross_entropy",
        EXTREME,
        EXTREME_LABELS,
        grad_argnums=0,
        eager=True,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"epsilon": 0.5, "axis": 0},
        {"where": jax.random.bernoulli(KEY, 0.7, (4, 5)).at[:, 0].set(True)},
    ],
)
def test_poly_loss_cross_entropy(kwargs):
    check_loss("poly_loss_cross_entropy", LOGITS, ONE_HOT, grad_argnums=0, **kwargs)


def test_poly_loss_cross_entropy_extreme():
    check_loss(
        "poly_loss_cross_entropy",
        EXTREME,
        EXTREME_LABELS,
        grad_argnums=0,
        epsilon=2.0,
        eager=True,
    )


@pytest.mark.parametrize(
    "kwargs,soft",
    [({}, False), ({"alpha": 0.25}, True), ({"gamma": 0.5, "alpha": 0.9}, False)],
)
def test_sigmoid_focal_loss(kwargs, soft):
    labels = PROBS if soft else (PROBS > 0.2).astype(jnp.float32)
    check_loss("sigmoid_focal_loss", LOGITS, labels, grad_argnums=0, **kwargs)


def test_sigmoid_focal_loss_extreme_logits():
    logits = jnp.array([1e4, -1e4, 1e4, -1e4, 50.0, -50.0])
    labels = jnp.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    for gamma in (0.5, 2.0):
        out = check_loss(
            "sigmoid_focal_loss",
            logits,
            labels,
            gamma=gamma,
            grad_argnums=0,
            eager=True,
        )
        assert np.all(np.isfinite(out))


def test_poly_loss_minus_inf_logits_masked_by_where():
    logits = LOGITS.at[:, 1].set(-jnp.inf)
    grad = check_loss(
        "poly_loss_cross_entropy",
        logits,
        ONE_HOT,
        where=jnp.isfinite(logits),
        grad_argnums=0,
        return_grad=True,
    )
    assert np.all(np.isfinite(grad))
