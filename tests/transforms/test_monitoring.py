"""snapshot, monitor and measure_with_ema against Optax."""

import jax.numpy as jnp
import optax

import tsx
from tests.oracle import assert_trees_close, grads_at, nested_params, state_layout
from tests.transforms.helpers import run_both


def _norm(tree):
    return optax.tree.norm(tree)


def test_snapshot_and_monitor_in_chain_match_optax():
    params = nested_params()

    def make(lib):
        return lib.chain(
            lib.adam(1e-2),
            lib.snapshot("before_clip", _norm),
            lib.monitor(
                {
                    "norm": _norm,
                    "clipped_ema": lib.measure_with_ema(
                        lambda u: (_norm(u) > 0.05).astype(jnp.float32), decay=0.9
                    ),
                }
            ),
            lib.clip_by_global_norm(0.05),
        )

    # A monitor's measurements dict is empty after init and filled by update,
    # so the layouts are compared on the final states only.
    state, optax_state = run_both(
        make,
        params,
        [grads_at(params, s) for s in range(4)],
        jit=True,
        check_layout=False,
    )
    assert state_layout(state) == state_layout(optax_state)
    assert_trees_close(state, optax_state)
    assert set(state[2].measurements) == {"norm", "clipped_ema"}


def test_snapshot_stores_the_measurement():
    tx = tsx.snapshot("sum", lambda u: jnp.sum(u))
    state = tx.init(jnp.ones(3))
    u, state = tx.update(jnp.array([1.0, 2.0, 3.0]), state)
    assert float(state.measurement["sum"]) == 6.0
    assert u.tolist() == [1.0, 2.0, 3.0]


def test_measure_with_ema_matches_optax_alone():
    params = nested_params()
    txs = [
        lib.measure_with_ema(_norm, decay=0.7, debias=debias)
        for debias in (True, False)
        for lib in (tsx, optax)
    ]
    states = [tx.init(params) for tx in txs]
    assert state_layout(states[0]) == state_layout(states[1])
    for step in range(4):
        g = grads_at(params, step)
        outs = []
        for i, tx in enumerate(txs):
            out, states[i] = tx.update(g, states[i], params)
            outs.append(out)
        assert_trees_close(outs[0], outs[1])
        assert_trees_close(outs[2], outs[3])
