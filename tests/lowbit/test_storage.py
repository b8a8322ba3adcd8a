"""Per-leaf storage at 4 bits: moment pairs, first moments, matrices kept wider."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import tsx
from tsx.lowbit import (
    QuantizedArray,
    _storage,
    dequantize,
    quantized_state,
    state_bytes,
)


def _flat(state):
    paths_and_leaves, _ = jax.tree_util.tree_flatten_with_path(
        state, is_leaf=lambda x: isinstance(x, QuantizedArray)
    )
    return {jax.tree_util.keystr(path): x for path, x in paths_and_leaves}


def _adam_state(mu, nu):
    return tsx.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)


def test_first_moment_is_stored_over_the_root_of_the_stored_second():
    # mu / sqrt(nu') in evenly spaced levels: |mu - mu'| <= sqrt(nu') a / 14,
    # a the block's largest |mu / sqrt(nu')| (block 64 = one row here).
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    nu = jnp.exp(4 * jax.random.normal(k1, (8, 64)))  # magnitudes 1e-7 .. 1e7
    mu = jnp.sqrt(nu) * jax.random.uniform(k2, (8, 64), minval=-1, maxval=1)
    state = _adam_state({"w": mu}, {"w": nu})
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    paths = [p for p, _ in paths_and_leaves]
    leaves = [x for _, x in paths_and_leaves]
    shapes = [jnp.shape(x) for x in leaves]
    wanted = [x.ndim > 0 for x in leaves]
    plan = _storage.plan(paths, shapes, wanted, 4, 64)
    assert [s.linear for s in plan] == [False, True, False]
    assert plan[1].over == 2
    stored = _storage.encode(leaves, plan, jnp.int32(3))
    _, mu_back, nu_back = _storage.decode(paths, stored)
    root = np.sqrt(np.asarray(nu_back, np.float64))
    ratio = np.asarray(mu, np.float64) / root
    a = np.abs(ratio).max(axis=1, keepdims=True)
    error = np.abs(np.asarray(mu_back, np.float64) - np.asarray(mu, np.float64))
    assert np.all(error <= root * a / 14 * (1 + 1e-5))
    # Scaled by the block's largest |mu| instead, the small elements would
    # have no levels left: most of them sit below half a level of it.
    row_max = np.abs(np.asarray(mu)).max(axis=1, keepdims=True)
    assert np.mean(np.abs(np.asarray(mu)) < row_max / 14) > 0.5
    assert np.mean(error < np.abs(np.asarray(mu)) / 2) > 0.5


def test_pairs_need_the_same_shape_and_both_compressed():
    m, v = jnp.ones((4, 64)), jnp.ones((1, 4, 64))
    state = _adam_state({"w": m, "b": m}, {"w": v, "b": m})
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    shapes = [jnp.shape(x) for x in jax.tree.leaves(state)]
    # leaves: count, mu.b, mu.w, nu.b, nu.w
    assert _storage.moment_pairs(paths, shapes, [True] * 5) == {1: 3}
    assert _storage.moment_pairs(paths, shapes, [True, True, True, False, True]) == {}


def test_adamw_least_squares_at_4_bits_near_optax_float32():
    # A 256 x 512 least-squares problem from w = 0, 30 steps of AdamW(1e-2):
    # the float32 loss from Optax is the reference. Block-max codes for both
    # moments ended 59% above it; the per-leaf storage ends 17% above.
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(k1, (256, 512))
    b = jax.random.normal(k2, (256, 64))

    def loss(w):
        return jnp.mean((a @ w - b) ** 2)

    def final_loss(tx):
        w = jnp.zeros((512, 64))
        state = tx.init(w)

        def body(carry, _):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w), state, w)
            return (w + updates, state), None

        (w, _), _ = jax.lax.scan(body, (w, state), length=30)
        return float(loss(w))

    reference = final_loss(optax.adamw(1e-2))
    four = final_loss(quantized_state(tsx.adamw(1e-2), bits=4))
    eight = final_loss(quantized_state(tsx.adamw(1e-2), bits=8))
    assert abs(eight / reference - 1) < 0.01
    assert 0.0 < four / reference - 1 < 0.25


def test_matrices_and_other_basis_first_moments_keep_8_bits():
    # SOAP: statistics are matrices (8 bits), eigenbases orthogonal matrices
    # (4 bits, rectified); its mu (parameters' basis) has a nu of another
    # shape (eigenbasis blocks) beside it.
    params = {"w": jnp.ones((64, 64)), "b": jnp.zeros(64)}
    tx = quantized_state(tsx.contrib.soap(1e-3), bits=4, min_size=16)
    state = tx.init(params)
    widths = {
        k: v.bits for k, v in _flat(state).items() if isinstance(v, QuantizedArray)
    }
    eight = [k for k, b in widths.items() if b == 8]
    four = [k for k, b in widths.items() if b == 4]
    assert sum(".stats" in k for k in eight) == 2
    assert [k for k in eight if ".mu" in k] == [
        ".inner_state[0].inner_states['soap'].inner_state.mu['w']"
    ]
    # The bias goes to Adam (a mu/nu pair of one shape) and stays at 4 bits,
    # as do SOAP's second moment and its two bases.
    soap = ".inner_state[0].inner_states['soap'].inner_state"
    assert sorted(four) == [
        ".inner_state[0].inner_states['adam'].inner_state.mu['b']",
        ".inner_state[0].inner_states['adam'].inner_state.nu['b']",
        f"{soap}.bases['w'][0]",
        f"{soap}.bases['w'][1]",
        f"{soap}.nu['w']",
    ]
    by_width = state_bytes(state, by_width=True)
    # In 8 bits, one byte per element plus a 4-byte scale per block: the
    # two (1, 64, 64) statistics in blocks of 256, mu's 64 rows one block
    # each; at 4 bits half a byte per element and a scale per 128.
    assert by_width[8] == 2 * (64 * 64 + 4 * 16) + (64 * 64 + 4 * 64)
    assert by_width[4] == 3 * (64 * 64 // 2 + 4 * 32) + 2 * (64 // 2 + 4)
    assert sum(by_width.values()) == state_bytes(state)


def test_shampoo_statistics_keep_32_bits_and_match_float32_shampoo():
    # Shampoo's statistics feed inverse 4th roots, which magnify errors in
    # their small eigenvalues; they stay float32 at every width (the roots
    # and moments are compressed). The statistics depend on the gradients
    # alone: L = sum_t (1 - b2) b2^(T-1-t) G_t G_t^T (R with G_t^T G_t), and
    # they equal unquantized Shampoo's bit for bit.
    params = {"w": jnp.zeros((64, 32))}
    grads = [
        {"w": jax.random.normal(jax.random.key(i), (64, 32))} for i in range(4)
    ]
    b2, g64 = 0.999, [np.asarray(g["w"], np.float64) for g in grads]
    weights = [(1 - b2) * b2 ** (len(g64) - 1 - t) for t in range(len(g64))]
    left = sum(w * g @ g.T for w, g in zip(weights, g64, strict=True))
    right = sum(w * g.T @ g for w, g in zip(weights, g64, strict=True))
    plain = tsx.contrib.shampoo(1e-2, start_preconditioning_step=2)
    reference = plain.init(params)
    for g in grads:
        _, reference = plain.update(g, reference, params)
    for bits in (16, 8, 4):
        tx = quantized_state(
            tsx.contrib.shampoo(1e-2, start_preconditioning_step=2),
            bits=bits,
            min_size=16,
        )
        state = tx.init(params)
        for g in grads:
            _, state = tx.update(g, state, params)
        flat = _flat(state)
        stats = {k: v for k, v in flat.items() if ".stats" in k}
        roots = {k: v for k, v in flat.items() if ".roots" in k}
        assert len(stats) == len(roots) == 2
        assert not any(isinstance(v, QuantizedArray) for v in stats.values())
        assert all(isinstance(v, QuantizedArray) for v in roots.values())
        for got, want in zip(
            jax.tree.leaves(state.inner_state[0].stats),
            jax.tree.leaves(reference[0].stats),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)
        got_left, got_right = state.inner_state[0].stats["w"]
        np.testing.assert_allclose(got_left[0], left, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got_right[0], right, rtol=1e-5, atol=1e-7)
        # 32 bits: the two statistics, 64^2 + 32^2 floats.
        assert state_bytes(state, by_width=True)[32] >= 4 * (64 * 64 + 32 * 32)


def test_shampoo_momentum_is_not_paired_with_its_grafting_second_moment():
    # Shampoo's mu is the momentum of the preconditioned step; its nu is the
    # grafting optimizer's second moment of the gradient: mu / sqrt(nu) is
    # no step, so mu takes the plain 4-bit levels. Adam's pair is kept.
    params = {"w": jnp.zeros((64, 32))}
    for tx, paired in ((tsx.contrib.shampoo(1e-2), False), (tsx.adamw(1e-2), True)):
        state = tx.init(params)
        flat, _ = jax.tree_util.tree_flatten_with_path(state)
        paths = [path for path, _ in flat]
        leaves = [x for _, x in flat]
        wanted = [x.size >= 16 for x in leaves]
        plan = _storage.plan(paths, [x.shape for x in leaves], wanted, 4, None)
        keys = [jax.tree_util.keystr(p) for p in paths]
        mu = plan[next(i for i, k in enumerate(keys) if ".mu" in k)]
        nu = next(i for i, k in enumerate(keys) if ".nu" in k)
        assert (mu.bits, mu.linear) == (4, True)
        assert mu.over == (nu if paired else None)


def test_soap_bases_at_4_bits_decode_orthogonal_and_change_only_on_refresh():
    # The stored bases are 4-bit blocks (max |Q^T Q - I| about 0.1 as
    # dequantized); decoding rectifies them to orthogonal within 2e-5 (float32
    # rounding of 64-term sums). Between refreshes (every 3rd step; the first
    # step computes them) the codes stay as they are.
    tx = quantized_state(
        tsx.contrib.soap(1e-2, precondition_frequency=3), bits=4, min_size=16
    )
    params = {"w": jnp.zeros((64, 64))}
    state, step = tx.init(params), jax.jit(tx.update)

    def bases(state):
        paths_and_leaves = jax.tree_util.tree_flatten_with_path(
            state, is_leaf=lambda x: isinstance(x, QuantizedArray)
        )[0]
        paths = [p for p, _ in paths_and_leaves]
        stored = [x for _, x in paths_and_leaves]
        decoded = _storage.decode(paths, stored)
        return [
            (x, q)
            for p, x, q in zip(paths, stored, decoded, strict=True)
            if ".bases" in jax.tree_util.keystr(p)
        ]

    for count in range(1, 8):
        g = {"w": jax.random.normal(jax.random.PRNGKey(count), (64, 64))}
        before = bases(state)
        _, state = step(g, state, params)
        after = bases(state)
        changed = [
            not np.array_equal(np.asarray(a.codes), np.asarray(b.codes))
            for (a, _), (b, _) in zip(before, after, strict=True)
        ]
        assert changed == [count in (1, 3, 6)] * 2, count
        eye = np.eye(64)
        for stored, q in after:
            q, raw = np.asarray(q[0], np.float64), np.asarray(dequantize(stored)[0])
            raw = raw.astype(np.float64)
            assert np.abs(q.T @ q - eye).max() < 2e-5
            assert np.abs(raw.T @ raw - eye).max() > 1e-2
            # The rectified basis is the polar factor of the dequantized one.
            u, _, vt = np.linalg.svd(raw)
            np.testing.assert_allclose(q, u @ vt, atol=1e-4)


def test_first_moment_without_second_moment_uses_even_levels():
    tx = quantized_state(tsx.contrib.muon(1e-2), bits=4, min_size=16)
    state = tx.init({"w": jnp.ones((32, 64))})
    (mu,) = [v for k, v in _flat(state).items() if isinstance(v, QuantizedArray)]
    assert mu.bits == 4 and mu.linear


def test_soap_at_4_bits_steps_and_tracks_float32():
    # Quantization is the only difference: after 5 steps of random
    # gradients (momentum without structure, the hard case) the params'
    # mean deviation stays under a third of their mean movement (28% here:
    # the 4-bit bases sit about 8% from float32's, which on random
    # directions moves every step; 16% with the bases at 8 bits).
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (32, 48))}
    grads = [
        {"w": jax.random.normal(jax.random.PRNGKey(i + 1), (32, 48))} for i in range(5)
    ]

    def run(tx):
        state, p = tx.init(params), params
        step = jax.jit(tx.update)
        for g in grads:
            updates, state = step(g, state, p)
            p = tsx.apply_updates(p, updates)
        return np.asarray(p["w"])

    opt = lambda: tsx.contrib.soap(1e-2, precondition_frequency=2)  # noqa: E731
    exact = run(opt())
    four = run(quantized_state(opt(), bits=4, min_size=16))
    moved = np.abs(exact - np.asarray(params["w"])).mean()
    assert np.all(np.isfinite(four))
    assert np.abs(four - exact).mean() < 0.33 * moved


def test_bfloat16_first_moment_decodes_to_bfloat16():
    tx = quantized_state(tsx.adamw(1e-2, mu_dtype=jnp.bfloat16), bits=4, min_size=16)
    params = {"w": jnp.ones((8, 64))}
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(params, state, params)
    mu = _flat(state)
    first = next(v for k, v in mu.items() if ".mu" in k)
    assert first.dtype == jnp.bfloat16 and first.linear
    assert updates["w"].dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(updates["w"])))


def _mu_storage(tx, params):
    flat, _ = jax.tree_util.tree_flatten_with_path(tx.init(params))
    paths = [path for path, _ in flat]
    leaves = [x for _, x in flat]
    wanted = [x.ndim > 0 for x in leaves]
    plan = _storage.plan(paths, [x.shape for x in leaves], wanted, 4, None)
    keys = [jax.tree_util.keystr(p) for p in paths]
    return plan[next(i for i, k in enumerate(keys) if ".mu" in k)]


def test_elementwise_momenta_round_at_random_the_others_to_nearest():
    # Lion's momentum: random rounding in the 4-bit default blocks; a
    # matrix optimizer's momentum: nearest, in blocks of 32; Adam's ratio:
    # nearest, in the default blocks.
    params = {"w": jnp.zeros((64, 256))}
    lion = _mu_storage(tsx.lion(1e-3), params)
    assert lion.stochastic and lion.block_size == 128
    matrix = (tsx.contrib.muon(1e-2), tsx.contrib.kron(1e-3), tsx.contrib.shampoo(1e-2))
    for tx in matrix:
        how = _mu_storage(tx, params)
        assert (how.stochastic, how.block_size, how.linear) == (False, 32, True)
    adam = _mu_storage(tsx.adamw(1e-2), params)
    assert (adam.stochastic, adam.block_size) == (False, 128)


def test_matrix_momentum_blocks_of_32_and_a_given_block_size_wins():
    params = {"w": jnp.ones((32, 256))}
    for block, scales in ((None, 32 * 256 // 32), (64, 32 * 256 // 64)):
        tx = quantized_state(tsx.contrib.muon(1e-2), bits=4, block_size=block)
        state = tx.init(params)
        (mu,) = [v for v in _flat(state).values() if isinstance(v, QuantizedArray)]
        assert mu.block_size == (block or 32) and mu.scales.size == scales
        # Four bits per code and a 4-byte scale per block.
        assert mu.nbytes == 32 * 256 // 2 + 4 * scales


def test_4_bit_momentum_keeps_increments_below_half_a_level():
    # Lion's momentum m <- 0.99 m + 0.01 g with g = 1 everywhere but one
    # element of each row at 100: the block's levels are 100 m_t / 7 apart,
    # and an increment of 0.01 from m_0 = 0 is under half of one, so rounded
    # to nearest the small elements would stay 0 for good. Rounded at random
    # each is unbiased: it lies in [0, level] with mean m_t = 1 - 0.99^t, so
    # the mean of N of them is within 5 sqrt(m_t level / N) of m_t.
    g = jnp.ones((64, 64)).at[:, 0].set(100.0)
    tx = quantized_state(tsx.scale_by_lion(b1=0.9, b2=0.99), bits=4, min_size=16)
    state = tx.init(g)
    step = jax.jit(lambda s: tx.update(g, s)[1])
    for _ in range(50):
        state = step(state)
    stored = [v for v in _flat(state).values() if isinstance(v, QuantizedArray)]
    mu = np.asarray(dequantize(stored[0]))
    want = 1 - 0.99**50
    small, level = mu[:, 1:], 100 * want / 7
    assert abs(small.mean() - want) <= 5 * np.sqrt(want * level / small.size)
    np.testing.assert_allclose(mu[:, 0], 100 * want, rtol=1e-5)
