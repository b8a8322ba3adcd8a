"""Evaluate a tsx schedule and the matching Optax schedule at the same steps.

Steps are fed as Python ints, Python floats, and int32 / float32 arrays under
``jax.jit`` (scalar) and ``jax.jit(jax.vmap(...))`` (a batch of steps), so the
values, dtypes and (for integer steps, which is what optimizers feed) weak
typing all have to agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import tsx

RTOL = 1e-5
ATOL = 1e-6


def _kind(x: Any) -> tuple:
    if isinstance(x, jax.Array):
        return ("array", str(x.dtype), bool(x.weak_type))
    return ("python", type(x).__name__)


def _close(a: Any, b: Any, msg: str) -> None:
    np.testing.assert_allclose(
        np.asarray(a, np.float64),
        np.asarray(b, np.float64),
        rtol=RTOL,
        atol=ATOL,
        err_msg=msg,
    )


def assert_matches_optax(make: Callable[[Any], Callable], steps: Iterable[int]) -> None:
    """Assert ``make(tsx)`` and ``make(optax)`` agree at ``steps`` (and halves)."""
    ours, theirs = make(tsx), make(optax)
    steps = sorted(set(int(s) for s in steps))

    # Eager calls are slow (each new op shape compiles), so only a spread of
    # steps runs eagerly; every step runs through jit(vmap) below.
    stride = max(1, len(steps) // 4)
    for s in steps[::stride] + steps[-1:]:
        a, b = ours(s), theirs(s)
        _close(a, b, f"python int step {s}")
        assert _kind(a) == _kind(b), f"int step {s}: {_kind(a)} vs {_kind(b)}"
        a, b = ours(s + 0.5), theirs(s + 0.5)
        _close(a, b, f"python float step {s + 0.5}")
        assert np.asarray(a).dtype == np.asarray(b).dtype, f"float step {s + 0.5}"

    jit_ours, jit_theirs = jax.jit(ours), jax.jit(theirs)
    for s in steps[:: max(1, len(steps) // 3)]:
        a, b = jit_ours(jnp.int32(s)), jit_theirs(jnp.int32(s))
        _close(a, b, f"jit int32 step {s}")
        assert _kind(jnp.asarray(a)) == _kind(jnp.asarray(b)), f"jit int32 step {s}"

    ints = jnp.asarray(steps, jnp.int32)
    a, b = jax.jit(jax.vmap(ours))(ints), jax.jit(jax.vmap(theirs))(ints)
    _close(a, b, "jit(vmap) over int32 steps")
    assert a.dtype == b.dtype

    floats = jnp.asarray(steps, jnp.float32) + 0.25
    a, b = jax.jit(jax.vmap(ours))(floats), jax.jit(jax.vmap(theirs))(floats)
    _close(a, b, "jit(vmap) over float32 steps")
    assert a.dtype == b.dtype


def around(*points: int) -> list[int]:
    """Each point, its neighbours, 0, and steps long past the end."""
    out = {0, 1, 2, 10_000, 1_000_000}
    for p in points:
        out.update({p - 1, p, p + 1, 2 * p})
    return sorted(s for s in out if s >= 0)
