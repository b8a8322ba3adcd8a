"""Muon against Optax, and the usage guide's ``muon.muon(momentum=...)`` alias.

The Newton-Schulz iteration is iterative float32 math, but tsx runs the same
sequence of operations as Optax, so the default tolerance holds (the updates
agree bit for bit on CPU). Every comparison is jitted: eager Newton-Schulz
loops are slow.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.oracle import assert_trees_close, compare_with_optax, grads_at


def _params():
    ks = jax.random.split(jax.random.PRNGKey(11), 5)
    return {
        "dense": {
            "kernel": jax.random.normal(ks[0], (6, 4)),
            "bias": jax.random.normal(ks[1], (4,)),
        },
        "wide": jax.random.normal(ks[2], (3, 7)),
        "conv": jax.random.normal(ks[3], (3, 3, 2, 4)),
        "scale": jnp.asarray(0.5, jnp.float32),
    }


def _small_params():
    ks = jax.random.split(jax.random.PRNGKey(5), 2)
    return {"w": jax.random.normal(ks[0], (5, 3)), "b": jax.random.normal(ks[1], (3,))}


def test_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.muon(1e-2), params=_params(), jit=True)


def test_spectral_dion_adaptive_and_adam_settings_match_optax():
    mask = lambda p: jax.tree.map(lambda x: x.shape[0] != 3, p)  # noqa: E731
    compare_with_optax(
        lambda lib: lib.contrib.muon(
            lambda c: 0.05 * 0.9**c,
            ns_coeffs="dion",
            beta=0.8,
            eps=1e-6,
            weight_decay=0.1,
            weight_decay_mask=mask,
            nesterov=False,
            adaptive=True,
            preconditioning="spectral",
            adam_b1=0.5,
            adam_b2=0.9,
            adam_eps_root=1e-8,
            adam_weight_decay=0.2,
            adam_learning_rate=lambda c: 0.01 / (1.0 + c),
            consistent_rms=0.2,
        ),
        params=_params(),
        steps=6,
        jit=True,
    )


def test_aol_with_dimension_numbers_tree_matches_optax():
    def make(lib):
        d = lib.contrib.MuonDimensionNumbers
        dims = {
            "dense": {"kernel": d(0, 1), "bias": None},
            "wide": d(reduction_axis=1, output_axis=0),
            "conv": d(reduction_axis=(0, 1, 2), output_axis=3),
            "scale": None,
        }
        return lib.contrib.muon(
            1e-2, preconditioning="aol", ns_steps=4, muon_weight_dimension_numbers=dims
        )

    compare_with_optax(make, params=_params(), jit=True)


def test_schatten_with_dimension_numbers_function_and_batch_axis_matches_optax():
    def make(lib):
        d = lib.contrib.MuonDimensionNumbers

        def dims(params):
            # conv: axis 0 is a batch of 3 independent (3*2, 4) matrices.
            return jax.tree.map(
                lambda x: (
                    d((1, 2), 3) if x.ndim == 4 else (d() if x.ndim == 2 else None)
                ),
                params,
            )

        return lib.contrib.muon(
            1e-2, preconditioning="schatten", muon_weight_dimension_numbers=dims
        )

    compare_with_optax(make, params=_params(), jit=True)


def test_scale_by_muon_on_a_matrix_with_per_step_coefficients_matches_optax():
    w = jax.random.normal(jax.random.PRNGKey(2), (5, 8))
    compare_with_optax(
        lambda lib: lib.contrib.scale_by_muon(
            ns_coeffs=((4.0, -6.0, 2.5), (3.4445, -4.7750, 2.0315)),
            ns_steps=3,
            beta=0.9,
        ),
        params=w,
        jit=True,
    )


def test_mu_dtype_matches_optax():
    compare_with_optax(
        lambda lib: lib.contrib.muon(1e-2, mu_dtype=jnp.bfloat16),
        params=_small_params(),
        rtol=2e-2,
        atol=2e-3,
        jit=True,
    )


def test_nu_dtype_applies_to_the_adam_branch():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _params())
    state = tsx.contrib.muon(1e-2, nu_dtype=jnp.float32).init(params)
    adam_state = state.inner_states["adam"].inner_state[0]
    assert {x.dtype for x in jax.tree.leaves(adam_state.nu)} == {jnp.dtype("float32")}
    assert {x.dtype for x in jax.tree.leaves(adam_state.mu)} == {jnp.dtype("bfloat16")}


def test_guide_alias_momentum_is_beta():
    from tsx.contrib import muon

    assert muon is tsx.contrib.muon  # still the function, callable as in Optax

    def make(lib):
        if lib is tsx:
            return muon.muon(
                learning_rate=1e-2, momentum=0.8, nesterov=True, ns_steps=5
            )
        return lib.contrib.muon(learning_rate=1e-2, beta=0.8, nesterov=True, ns_steps=5)

    compare_with_optax(make, params=_small_params(), jit=True)
    assert "momentum" in inspect.signature(muon.muon).parameters


def test_signature_is_optaxs_plus_nu_dtype_and_the_shared_dimension_argument():
    ours = inspect.signature(tsx.contrib.muon).parameters
    theirs = inspect.signature(optax.contrib.muon).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    assert list(ours)[len(theirs) :] == ["nu_dtype", "weight_dimension_numbers"]
    for name, p in theirs.items():
        assert ours[name].default == p.default, name
        assert ours[name].kind == p.kind, name


def test_guide_alias_rejects_momentum_and_beta_together():
    from tsx.contrib import muon

    with pytest.raises(TypeError, match="momentum"):
        muon.muon(learning_rate=1e-2, momentum=0.9, beta=0.9)


def test_scale_by_muon_accepts_a_tree_of_matrices():
    # tsx extension: weight_dimension_numbers=None on a tree means every leaf
    # is a matrix; Optax needs the explicit dimension numbers for a tree.
    params = {"a": jax.random.normal(jax.random.PRNGKey(0), (4, 6)), "b": jnp.eye(3)}
    tx_a = tsx.contrib.scale_by_muon()
    d = optax.contrib.MuonDimensionNumbers()
    tx_b = optax.contrib.scale_by_muon(weight_dimension_numbers={"a": d, "b": d})
    g = grads_at(params, 0)
    u_a, _ = jax.jit(tx_a.update)(g, tx_a.init(params))
    u_b, _ = jax.jit(tx_b.update)(g, tx_b.init(params))
    assert_trees_close(u_a, u_b)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-2, beta=1.0), "beta"),
        (dict(learning_rate=1e-2, eps=-1.0), "eps"),
        (dict(learning_rate=1e-2, ns_steps=0), "ns_steps"),
        (dict(learning_rate=1e-2, ns_coeffs="bogus"), "ns_coeffs"),
        (dict(learning_rate=1e-2, ns_coeffs=(1.0, 2.0)), "ns_coeffs"),
        (dict(learning_rate=1e-2, ns_coeffs="dion", ns_steps=3), "ns_coeffs"),
        (dict(learning_rate=1e-2, preconditioning="svd"), "preconditioning"),
        (dict(learning_rate=1e-2, weight_decay=-1.0), "weight_decay"),
        (dict(learning_rate=1e-2, adam_b1=1.0), "adam_b1"),
        (dict(learning_rate=1e-2, adam_b2=-0.1), "adam_b2"),
        (dict(learning_rate=1e-2, adam_eps_root=-1.0), "adam_eps_root"),
        (dict(learning_rate=1e-2, adam_weight_decay=-1.0), "adam_weight_decay"),
        (dict(learning_rate=1e-2, adam_learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=1e-2, consistent_rms=-0.2), "consistent_rms"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tsx.contrib.muon(**kwargs)


def test_weight_dimension_numbers_is_the_optax_argument_under_the_shared_name():
    # A stacked (2, 4, 3) kernel as two matrices, by either argument name.
    rng = np.random.default_rng(3)
    params = {"w": jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float32)}
    grads = {"w": jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float32)}
    dims = {"w": tsx.matrix.DimensionNumbers(1, 2)}
    theirs = {"w": optax.contrib.MuonDimensionNumbers(1, 2)}
    ref = optax.contrib.muon(1e-2, muon_weight_dimension_numbers=theirs)
    want, _ = ref.update(grads, ref.init(params), params)
    for kwargs in (
        {"weight_dimension_numbers": dims},
        {"muon_weight_dimension_numbers": dims},
    ):
        tx = tsx.contrib.muon(1e-2, **kwargs)
        got, _ = tx.update(grads, tx.init(params), params)
        np.testing.assert_allclose(got["w"], want["w"], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="not both"):
        tsx.contrib.muon(
            1e-2, weight_dimension_numbers=dims, muon_weight_dimension_numbers=dims
        )
    assert tsx.contrib.MuonDimensionNumbers is tsx.matrix.DimensionNumbers
    assert tsx.contrib.GaLoreDimensionNumbers is tsx.matrix.DimensionNumbers
