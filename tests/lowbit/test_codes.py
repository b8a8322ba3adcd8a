"""The block codes: error bounds derived from the code's definition, edge values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsx.lowbit import QuantizedArray, dequantize, quantize, stochastic_round_bf16

SHAPES = [(1000,), (3, 300), (64, 256), (5, 7, 11), (2, 3, 64, 40)]


def _blockwise_absmax(x: np.ndarray, block_size: int) -> np.ndarray:
    """Each element's block maximum |x|, computed by a direct loop over blocks."""
    shape = x.shape
    k, trailing = len(shape), 1
    while k > min(1, len(shape) - 1) and trailing < block_size:
        k -= 1
        trailing *= shape[k]
    rows = x.reshape(-1, trailing)
    out = np.empty_like(rows)
    block = min(block_size, trailing)
    for start in range(0, trailing, block):
        part = np.abs(rows[:, start : start + block])
        out[:, start : start + block] = part.max(axis=1, keepdims=True)
    return out.reshape(shape)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_signed_code_error_within_its_bound(bits, shape):
    # Signed code: x = a * sign(q) * (|q| / L)^2, rounding in the sqrt domain,
    # so |sqrt(r) - k/L| <= 1/(2L) and |r - (k/L)^2| <= sqrt(r)/L + 1/(4L^2).
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), shape), np.float64)
    q = quantize(jnp.asarray(x, jnp.float32), bits, block_size=64)
    y = np.asarray(dequantize(q), np.float64)
    a = _blockwise_absmax(x, 64)
    level = 2 ** (bits - 1) - 1
    bound = a * (np.sqrt(np.abs(x) / a) / level + 1 / (4 * level**2)) + 1e-6 * a
    assert np.all(np.abs(x - y) <= bound)
    assert y.shape == shape
    # Exact at zero and at each block's extreme.
    assert np.all(np.sign(y)[np.abs(y) > 0] == np.sign(x)[np.abs(y) > 0])


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_positive_code_error_within_its_bound_and_never_zero(bits, shape):
    # Positive code: x = a * ((q + 1) / N)^4 with N = 2^bits, rounding in the
    # fourth-root domain u = r^(1/4): |u - u'| <= 1/N (1/(2N) above the
    # lowest level), hence |r - r'| <= 4 (u + 1/N)^3 / N.
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), shape), np.float64) ** 2
    x.flat[0] = 0.0
    q = quantize(jnp.asarray(x, jnp.float32), bits, block_size=64)
    y = np.asarray(dequantize(q), np.float64)
    a = _blockwise_absmax(x, 64)
    n = 2**bits
    u = (x / a) ** 0.25
    bound = a * 4 * (u + 1 / n) ** 3 / n + 1e-6 * a
    assert np.all(np.abs(x - y) <= bound)
    # The zero-point problem: no positive block decodes to zero, even at zero.
    assert np.all(y >= a / n**4 * (1 - 1e-6))
    assert np.all(q.scales > 0)


def test_codes_have_the_arrays_shape_at_8_bits_and_half_at_4():
    x = jnp.ones((6, 40, 32))
    q8, q4 = quantize(x, 8), quantize(x, 4, block_size=128)
    assert q8.codes.shape == x.shape and q8.codes.dtype == jnp.uint8
    # 40 * 32 = 1280 trailing elements (>= 256) per row: 5 blocks of 256.
    assert q8.scales.shape == (6, 5) and q8.scales.dtype == jnp.float32
    assert q4.codes.shape == (6, 10, 64) and q4.codes.dtype == jnp.uint8
    assert q4.scales.shape == (6, 10)
    assert q8.nbytes == 6 * 1280 + 6 * 5 * 4


def test_all_zero_blocks_decode_to_exact_zeros():
    x = jnp.zeros((4, 512)).at[0, 3].set(2.0)
    for bits in (8, 4):
        y = dequantize(quantize(x, bits, block_size=256))
        assert float(y[0, 3]) == 2.0
        assert np.count_nonzero(np.asarray(y)[1:]) == 0
        assert np.count_nonzero(np.asarray(y)[0, 256:]) == 0


@pytest.mark.parametrize("bits", [8, 4])
def test_denormal_and_huge_values_stay_finite_and_relative(bits):
    for magnitude in (1e-40, 1e-30, 1e30, 5e37):
        x = magnitude * jax.random.normal(jax.random.PRNGKey(3), (2, 256))
        y = dequantize(quantize(x, bits))
        assert bool(jnp.all(jnp.isfinite(y)))
        a = jnp.max(jnp.abs(x), axis=1, keepdims=True)
        level = 2 ** (bits - 1) - 1
        assert bool(jnp.all(jnp.abs(x - y) <= a * (1 / level + 1 / level**2)))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf, -jnp.inf])
def test_non_finite_value_poisons_its_block_only(bits, bad):
    x = jax.random.normal(jax.random.PRNGKey(4), (2, 256)).at[1, 7].set(bad)
    q = quantize(x, bits)
    y = dequantize(q)
    assert not bool(jnp.isfinite(q.scales[1]))
    assert not bool(jnp.any(jnp.isfinite(y[1])))
    assert bool(jnp.all(jnp.isfinite(y[0])))


def test_quantized_array_is_a_pytree_of_codes_and_scales():
    q = quantize(jnp.ones((4, 256)), 8)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(q)]
    assert paths == [".codes", ".scales"]
    again = jax.tree.map(lambda a: a, q)
    assert isinstance(again, QuantizedArray) and again.shape == (4, 256)
    assert (
        repr(q)
        == "QuantizedArray(shape=(4, 256), dtype=float32, bits=8, block_size=256)"
    )


def test_quantize_refuses_other_bit_widths():
    with pytest.raises(ValueError, match="bits=3"):
        quantize(jnp.ones(8), 3)


# -- bfloat16 with stochastic rounding ----------------------------------------


def test_stochastic_rounding_is_unbiased():
    # 1 + 2^-10 lies 1/8 of the way from 1 to the next bfloat16 (1 + 2^-7).
    x = jnp.full((200_000,), 1.0 + 2.0**-10)
    y = np.asarray(stochastic_round_bf16(x, jnp.int32(0)), np.float64)
    assert set(np.unique(y)) == {1.0, 1.0 + 2.0**-7}
    up = np.mean(y > 1.0)
    # Binomial(200000, 1/8): standard deviation 7.4e-4.
    assert abs(up - 0.125) < 5 * 7.4e-4


def test_stochastic_rounding_is_deterministic_per_step_and_keeps_exact_values():
    x = jax.random.normal(jax.random.PRNGKey(5), (4096,))
    a = stochastic_round_bf16(x, jnp.int32(7), salt=1)
    b = stochastic_round_bf16(x, jnp.int32(7), salt=1)
    c = stochastic_round_bf16(x, jnp.int32(8), salt=1)
    assert bool(jnp.all(a == b)) and not bool(jnp.all(a == c))
    exact = x.astype(jnp.bfloat16).astype(jnp.float32)
    assert bool(jnp.all(stochastic_round_bf16(exact, jnp.int32(3)) == exact))
    # Each result is one of the two bfloat16 neighbours of x.
    lo = jnp.minimum(a.astype(jnp.float32), x)
    hi = jnp.maximum(a.astype(jnp.float32), x)
    assert bool(jnp.all(hi - lo <= jnp.abs(x) * 2.0**-7))


def test_stochastic_rounding_passes_non_finite_values():
    x = jnp.array([jnp.nan, jnp.inf, -jnp.inf, 3.3895314e38], jnp.float32)
    y = stochastic_round_bf16(x, jnp.int32(1)).astype(jnp.float32)
    assert bool(jnp.isnan(y[0])) and float(y[1]) == np.inf and float(y[2]) == -np.inf
    assert bool(jnp.isfinite(y[3]))


def test_round_to_nearest_stalls_where_stochastic_rounding_moves_on():
    # 4000 increments of 1e-4 from 1.0: each is under half a bfloat16 ulp at 1
    # (2^-8 = 0.0039), so round-to-nearest never leaves 1.0; the exact sum is
    # 1.4, and stochastic rounding reaches it up to its random walk.
    def run(round_fn):
        def body(i, x):
            return round_fn(x.astype(jnp.float32) + 1e-4, i)

        return jax.lax.fori_loop(0, 4000, body, jnp.ones(256, jnp.bfloat16))

    nearest = run(lambda x, i: x.astype(jnp.bfloat16))
    stochastic = run(lambda x, i: stochastic_round_bf16(x, i))
    assert bool(jnp.all(nearest == 1.0))
    mean = float(jnp.mean(stochastic.astype(jnp.float32)))
    assert abs(mean - 1.4) < 0.01


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_code_error_within_half_a_level(bits, shape):
    # x = a * q / L with q = round(L x / a): |x - x'| <= a / (2L).
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), shape), np.float64)
    q = quantize(jnp.asarray(x, jnp.float32), bits, block_size=64, linear=True)
    y = np.asarray(dequantize(q), np.float64)
    a = _blockwise_absmax(x, 64)
    level = 2 ** (bits - 1) - 1
    assert q.linear and "linear=True" in repr(q)
    assert np.all(np.abs(x - y) <= a / (2 * level) + 1e-6 * a)
    # The largest magnitude is a level, exactly.
    assert np.all(np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-6))


def _positive_levels(bits: int) -> np.ndarray:
    return ((np.arange(2**bits) + 1) / 2**bits) ** 4


def test_stochastic_positive_code_picks_a_neighbouring_level_unbiased():
    # One block (max 1, so values are their own ratios): each decoded value
    # is one of the two levels around it, and over 4,000 draws their mean is
    # the value, within 4 standard errors of a draw's spread (gap / 2).
    levels = _positive_levels(4)
    x = np.array([1.0, 0.3, 0.05, 1e-3, 1e-7, 0.6, 0.0117, 0.9], np.float32)
    encode = jax.jit(
        lambda step: dequantize(quantize(jnp.asarray(x), 4, 64, noise_step=step))
    )
    draws = np.stack([np.asarray(encode(step)) for step in range(4000)])
    low = np.array([levels[max(np.searchsorted(levels, v, "right") - 1, 0)] for v in x])
    high = np.array([levels[min(np.searchsorted(levels, v), 15)] for v in x])
    assert np.all((draws >= low * (1 - 1e-6)) & (draws <= high * (1 + 1e-6)))
    assert np.all(draws > 0)
    inside = x >= levels[0]  # below the lowest level the code cannot be unbiased
    spread = (high - low) / 2
    assert np.all(
        np.abs(draws.mean(0) - x)[inside] <= 4 * spread[inside] / np.sqrt(4000) + 1e-7
    )
    assert np.all(draws[:, ~inside] == levels[0])


def test_stochastic_linear_code_picks_a_neighbouring_level_unbiased():
    # One block with largest magnitude 1: the levels are q / 7. Each decoded
    # value is one of the two levels around x, and over 4,000 draws their
    # mean is x within 4 standard errors of a draw's spread (half a level).
    x = np.array([1.0, -0.3, 0.05, 1e-3, -1e-7, 0.6, -0.0117, 0.9, 0.0], np.float32)
    encode = jax.jit(
        lambda step: dequantize(
            quantize(jnp.asarray(x), 4, 64, linear=True, noise_step=step)
        )
    )
    draws = np.stack([np.asarray(encode(step)) for step in range(4000)])
    low, high = np.floor(x * 7) / 7, np.ceil(x * 7) / 7
    assert np.all((draws >= low - 1e-6) & (draws <= high + 1e-6))
    assert np.all(np.abs(draws.mean(0) - x) <= 4 * (1 / 14) / np.sqrt(4000) + 1e-7)
    # Exact levels (1, 0) never move; below half a level x is not lost.
    assert np.all(draws[:, 0] == 1.0) and np.all(draws[:, -1] == 0.0)
    assert np.any(draws[:, 2] != 0.0)
