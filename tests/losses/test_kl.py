"""KL divergences against Optax, including zero-probability targets."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.losses.helpers import check_loss

KEY = jax.random.PRNGKey(0)
LOG_PRED = jax.nn.log_softmax(jax.random.normal(KEY, (3, 5)))
TARGETS = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (3, 5)) * 2)
ZERO_TARGETS = TARGETS.at[0, 1].set(0.0).at[2, :3].set(0.0)
WHERE = jax.random.bernoulli(KEY, 0.7, (3, 5))

NAMES = ["kl_divergence", "generalized_kl_divergence"]


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("kl_divergence", {}),
        ("kl_divergence", {"axis": 0}),
        ("kl_divergence", {"axis": None}),
        ("kl_divergence", {"where": WHERE}),
        ("generalized_kl_divergence", {"axis": 0}),
        ("generalized_kl_divergence", {"where": WHERE}),
    ],
)
def test_kl(name, kwargs):
    check_loss(name, LOG_PRED, TARGETS, grad_argnums=(0, 1), **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_kl_zero_targets(name):
    out = check_loss(name, LOG_PRED, ZERO_TARGETS, eager=True)
    assert np.all(np.isfinite(out))
    # The gradient w.r.t. the log-predictions stays finite; w.r.t. a zero
    # target it is NaN in Optax, and in tsx alike.
    check_loss(name, LOG_PRED, ZERO_TARGETS, grad_argnums=(0, 1))


def test_kl_extreme_log_predictions():
    log_pred = jnp.array([[-1e4, 0.0, -50.0], [0.0, -1e4, -1e4]])
    targets = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    out = check_loss("kl_divergence", log_pred, targets, grad_argnums=0)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("kwargs", [{}, {"axis": 0}, {"where": WHERE}])
def test_kl_with_log_targets(kwargs):
    log_targets = jnp.log(TARGETS)
    check_loss(
        "kl_divergence_with_log_targets",
        LOG_PRED,
        log_targets,
        grad_argnums=(0, 1),
        **kwargs,
    )
    check_loss(
        "kl_divergence_with_log_targets",
        LOG_PRED,
        log_targets.at[0, 0].set(-1e4),
        grad_argnums=(0, 1),
        **kwargs,
    )


def test_convex_kl_divergence_is_deprecated_alias():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        check_loss(
            "convex_kl_divergence", LOG_PRED, TARGETS, grad_argnums=0, where=WHERE
        )
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
        tsx.losses.convex_kl_divergence(LOG_PRED, TARGETS)


def test_kl_dtype_checks():
    with pytest.raises(TypeError):
        tsx.losses.kl_divergence(jnp.arange(3), TARGETS[0, :3])
    with pytest.raises(TypeError):
        tsx.losses.kl_divergence_with_log_targets(LOG_PRED, jnp.ones((3, 5), int))
