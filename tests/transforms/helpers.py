"""Helpers shared by the transforms tests (on top of tests/oracle.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.serialization
import jax
import optax

import tsx
from tests.oracle import assert_trees_close, state_layout


def run_both(
    make: Callable[[Any], Any],
    params: Any,
    grads: Sequence[Any],
    jit: bool = False,
    check_layout: bool = True,
) -> tuple[Any, Any]:
    """Feed the same gradient sequence to ``make(tsx)`` and ``make(optax)``.

    ``params`` may be a function of the library (for parameter containers
    each library defines, such as ``LookaheadParams``).

    Asserts equal updates at every step (and equal state layouts at the start
    and the end); returns the final ``(tsx_state, optax_state)``.
    """
    p_a, p_b = (params(lib) if callable(params) else params for lib in (tsx, optax))
    tx_a, tx_b = make(tsx), make(optax)
    s_a, s_b = tx_a.init(p_a), tx_b.init(p_b)
    if check_layout:
        assert state_layout(s_a) == state_layout(s_b), "initial state layouts differ"
    up_a = jax.jit(tx_a.update) if jit else tx_a.update
    up_b = jax.jit(tx_b.update) if jit else tx_b.update
    for step, g in enumerate(grads):
        u_a, s_a = up_a(g, s_a, p_a)
        u_b, s_b = up_b(g, s_b, p_b)
        assert_trees_close(u_a, u_b, msg=f"updates at step {step}")
        p_a = tsx.apply_updates(p_a, u_a)
        p_b = optax.apply_updates(p_b, u_b)
    if check_layout:
        assert state_layout(s_a) == state_layout(s_b), "final state layouts differ"
    return s_a, s_b


def checkpoint_round_trip(state: Any, like: Any) -> Any:
    """Serialize ``state`` to a state dict and restore it into ``like``'s structure.

    Goes through msgpack bytes, as a checkpoint on disk would.
    """
    blob = flax.serialization.msgpack_serialize(flax.serialization.to_state_dict(state))
    restored = flax.serialization.msgpack_restore(blob)
    return flax.serialization.from_state_dict(like, restored)


def assert_resume_matches(
    make: Callable[[Any], Any],
    params: Any,
    grads: Sequence[Any],
    cut: int,
    jit: bool = True,
) -> None:
    """Interrupt a tsx run after ``cut`` steps, checkpoint, restore, continue.

    The resumed run must give exactly the uninterrupted run's updates, and
    both must agree with Optax's run on the same gradients.
    """
    tsx_params = params(tsx) if callable(params) else params
    tx = make(tsx)
    update = jax.jit(tx.update) if jit else tx.update

    def run(state, p, gs):
        outs = []
        for g in gs:
            u, state = update(g, state, p)
            p = tsx.apply_updates(p, u)
            outs.append(u)
        return outs, state, p

    straight, _, _ = run(tx.init(tsx_params), tsx_params, grads)
    first, state, p = run(tx.init(tsx_params), tsx_params, grads[:cut])
    state = checkpoint_round_trip(state, tx.init(tsx_params))
    rest, _, _ = run(state, p, grads[cut:])
    for step, (a, b) in enumerate(zip(first + rest, straight, strict=True)):
        assert_trees_close(a, b, rtol=0, atol=0, msg=f"resumed run, step {step}")
    run_both(make, params, grads, jit=jit)
