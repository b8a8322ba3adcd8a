"""EMA of params and batch stats against its closed form on known sequences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.training.models import (
    MLP,
    ConvBN,
    convbn_variables,
    cross_entropy,
    image_batch,
    mlp_params,
)


def _known_grads(params, steps, seed=0):
    rng = np.random.default_rng(seed)
    return [
        jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params)
        for _ in range(steps)
    ]


def _run(state, grads):
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    trajectory = [state.params]
    for g in grads:
        state = step(state, g)
        trajectory.append(state.params)
    return state, trajectory


def _closed_form(trajectory, decays):
    """e_N = prod(d) p_0 + sum_i (1 - d_{i-1}) prod_{j >= i} d_j p_i (float64)."""
    n = len(decays)
    d = np.asarray(decays, np.float64)

    def leaf(*ps):
        ps = [np.asarray(p, np.float64) for p in ps]
        out = np.prod(d) * ps[0]
        for i in range(1, n + 1):
            out = out + (1 - d[i - 1]) * np.prod(d[i:]) * ps[i]
        return out

    return jax.tree.map(leaf, *trajectory)


def _assert_close(a, b, rtol=2e-5, atol=2e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), y, rtol=rtol, atol=atol)


def test_constant_decay_matches_closed_form():
    params, d, steps = mlp_params(), 0.8, 6
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=params, tx=tsx.sgd(0.3), ema_decay=d
    )
    state, trajectory = _run(state, _known_grads(params, steps))
    expected = jax.tree.map(
        lambda *ps: (
            d**steps * np.asarray(ps[0], np.float64)
            + (1 - d)
            * sum(d ** (steps - i) * np.asarray(ps[i], np.float64) for i in range(1, 7))
        ),
        *trajectory,
    )
    _assert_close(state.ema_params, expected)
    # The average lags behind: it is not the latest params.
    assert not np.allclose(
        state.ema_params["Dense_0"]["kernel"], state.params["Dense_0"]["kernel"]
    )


def test_tf_warmup_matches_closed_form():
    params, d, steps = mlp_params(), 0.99, 5
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.3),
        ema_decay=d,
        ema_warmup=True,
    )
    state, trajectory = _run(state, _known_grads(params, steps, seed=1))
    decays = [min(d, (1 + n) / (10 + n)) for n in range(steps)]
    assert decays[0] == pytest.approx(0.1)
    _assert_close(state.ema_params, _closed_form(trajectory, decays))


def test_callable_warmup_is_capped_at_the_decay():
    params, d, steps = mlp_params(), 0.6, 4
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.3),
        ema_decay=d,
        ema_warmup=lambda n: 1.0 - 1.0 / (n + 2.0),
    )
    state, trajectory = _run(state, _known_grads(params, steps, seed=2))
    decays = [min(d, 1 - 1 / (n + 2)) for n in range(steps)]  # .5, .6, .6, .6
    _assert_close(state.ema_params, _closed_form(trajectory, decays))


def test_ema_every_k_updates():
    params, d, steps, every = mlp_params(), 0.7, 7, 3
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(0.3),
        ema_decay=d,
        ema_every=every,
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    trajectory = [params]
    emas = []
    for g in _known_grads(params, steps, seed=3):
        state = step(state, g)
        trajectory.append(state.params)
        emas.append(state.ema_params)
    # Unchanged between averaging steps 3 and 6; two averaging steps in all.
    for a, b in ((0, 1), (2, 3), (3, 4), (5, 6)):
        _assert_close(emas[a], jax.tree.map(np.asarray, emas[b]), rtol=0, atol=0)
    expected = _closed_form([trajectory[0], trajectory[3], trajectory[6]], [d, d])
    _assert_close(state.ema_params, expected)


def test_ema_of_batch_stats_and_evaluation_with_averaged_variables():
    variables = convbn_variables()
    model, d, steps = ConvBN(), 0.75, 4
    state = tsx.training.TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=tsx.adam(1e-2),
        ema_decay=d,
    )
    assert state.ema_batch_stats is not None

    @jax.jit
    def train_step(state, batch):
        def loss_fn(params):
            logits, updates = state.apply_fn(
                {"params": params, "batch_stats": state.batch_stats},
                batch["x"],
                train=True,
                mutable=["batch_stats"],
            )
            return cross_entropy(logits, batch["y"]), updates["batch_stats"]

        (_, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(grads=grads, batch_stats=new_stats)

    params_seq, stats_seq = [state.params], [state.batch_stats]
    for i in range(steps):
        state = train_step(state, image_batch(i))
        params_seq.append(state.params)
        stats_seq.append(state.batch_stats)

    ema_p = _closed_form(params_seq, [d] * steps)
    ema_bs = _closed_form(stats_seq, [d] * steps)
    _assert_close(state.ema_params, ema_p)
    _assert_close(state.ema_batch_stats, ema_bs)
    # The running statistics really moved, so averaging them is observable.
    assert not np.allclose(
        stats_seq[-1]["BatchNorm_0"]["mean"], stats_seq[0]["BatchNorm_0"]["mean"]
    )

    x = image_batch(99)["x"]
    cast = lambda t: jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), t)  # noqa: E731
    expected = model.apply(
        {"params": cast(ema_p), "batch_stats": cast(ema_bs)}, x, train=False
    )
    np.testing.assert_allclose(
        state.apply_ema(x, train=False), expected, rtol=1e-4, atol=1e-5
    )
    live = model.apply(state.variables(), x, train=False)
    assert not np.allclose(live, expected, atol=1e-4)


def test_ema_ignores_accumulation_micro_steps():
    params, d = mlp_params(), 0.5
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=params,
        tx=tsx.sgd(1.0),
        ema_decay=d,
        accumulate_steps=2,
    )
    step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    g1, g2 = _known_grads(params, 2, seed=4)
    mid = step(state, g1)
    _assert_close(mid.ema_params, jax.tree.map(np.asarray, params), rtol=0, atol=0)
    end = step(mid, g2)
    # One real update with the mean gradient, then one averaging step.
    p1 = jax.tree.map(lambda p, a, b: p - (a + b) / 2, params, g1, g2)
    _assert_close(end.params, jax.tree.map(np.asarray, p1))
    _assert_close(end.ema_params, _closed_form([params, p1], [d]))


def test_ema_variables_without_ema_is_an_error():
    state = tsx.training.TrainState.create(
        apply_fn=MLP().apply, params=mlp_params(), tx=tsx.sgd(0.1)
    )
    with pytest.raises(ValueError, match="ema_decay="):
        state.ema_variables()
