"""SOAP: Adam exactly when nothing is rotated; Adam in the eigenbasis otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import tsx


def _tree(seed):
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(rng.normal(size=(6, 4)), jnp.float32),
        "b": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
        "s": jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32),
    }


def test_without_preconditioned_sides_soap_is_adamw_exactly():
    params = _tree(0)
    ours = tsx.contrib.soap(1e-2, b1=0.9, b2=0.99, max_precond_dim=0, weight_decay=0.1)
    theirs = optax.adamw(1e-2, b1=0.9, b2=0.99, weight_decay=0.1)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    p_ours = p_theirs = params
    for i in range(5):
        grads = _tree(10 + i)
        u, s_ours = jax.jit(ours.update)(grads, s_ours, p_ours)
        v, s_theirs = jax.jit(theirs.update)(grads, s_theirs, p_theirs)
        p_ours, p_theirs = (
            tsx.apply_updates(p_ours, u),
            optax.apply_updates(p_theirs, v),
        )
    for a, b in zip(jax.tree.leaves(p_ours), jax.tree.leaves(p_theirs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_first_step_finds_the_eigenbasis_the_second_step_rotates_into():
    rng = np.random.default_rng(1)
    g1, g = (rng.normal(size=(5, 4)).astype(np.float32) for _ in range(2))
    eps = 1e-3
    tx = tsx.contrib.scale_by_soap(b1=0.0, b2=0.5, eps=eps)
    params = {"w": jnp.zeros((5, 4)), "b": jnp.zeros(4)}
    update = jax.jit(tx.update)
    first, state = update({"w": jnp.asarray(g1), "b": jnp.ones(4)}, tx.init(params))
    # The matrix waits for its bases; the vector takes Adam's first step.
    np.testing.assert_array_equal(np.asarray(first["w"]), 0.0)
    np.testing.assert_allclose(np.asarray(first["b"]), 1 / (1 + eps), rtol=1e-6)
    soap_state = state.inner_states["soap"].inner_state
    q_l, q_r = (np.asarray(q[0], np.float64) for q in soap_state.bases["w"])
    stats = [np.asarray(s[0], np.float64) for s in soap_state.stats["w"]]
    for q, stat in zip((q_l, q_r), stats, strict=True):
        rotated = q.T @ stat @ q
        off = rotated - np.diag(np.diag(rotated))
        assert np.abs(off).max() < 1e-4 * np.abs(rotated).max()
    updates, _ = update({"w": jnp.asarray(g), "b": jnp.ones(4)}, state)
    # With b1 = 0 and b2 = 1/2 the moments' first step is r / (|r| + eps) for
    # the rotated gradient r (bias corrections cancel), rotated back.
    r = q_l.T @ g @ q_r
    want = q_l @ (r / (np.abs(r) + eps)) @ q_r.T
    np.testing.assert_allclose(np.asarray(updates["w"]), want, atol=2e-4)


def test_with_diagonal_gradients_soap_is_adam_whatever_the_basis_order():
    # Diagonal gradients have diagonal statistics: every eigenbasis is a
    # signed permutation, so SOAP is Adam as long as the rotated second moment
    # is permuted with the basis at each refresh (here: every step, with the
    # order of the eigenvalues changing). eps = 1e-3 keeps the float32 noise
    # of the bases (~1e-7) in the zero entries from being divided by itself.
    rng = np.random.default_rng(2)
    soap = tsx.contrib.scale_by_soap(
        b1=0.9, b2=0.95, eps=1e-3, precondition_frequency=1
    )
    adam = optax.scale_by_adam(b1=0.9, b2=0.95, eps=1e-3)
    params = {"w": jnp.zeros((4, 4))}
    s_soap, s_adam = soap.init(params), adam.init(params)
    for i in range(8):
        g = {"w": jnp.asarray(np.diag(rng.normal(size=4) * rng.uniform(0.1, 5)))}
        u, s_soap = jax.jit(soap.update)(g, s_soap)
        if i == 0:  # SOAP's first gradient only sets up the bases
            np.testing.assert_array_equal(np.asarray(u["w"]), 0.0)
            continue
        v, s_adam = adam.update(g, s_adam)
        np.testing.assert_allclose(
            np.asarray(u["w"]), np.asarray(v["w"]), rtol=1e-4, atol=1e-3
        )
