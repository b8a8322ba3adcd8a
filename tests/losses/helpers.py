"""Compare a tsx loss with Optax's of the same name: value, jit and gradient."""

from __future__ import annotations

import inspect
from typing import Any

import jax
import numpy as np
import optax

import tsx
from tests.oracle import ATOL, RTOL


def assert_same(actual: Any, expected: Any, rtol=RTOL, atol=ATOL, msg="") -> None:
    """Same structure, values within tolerance, NaN and inf at the same places."""
    la, ta = jax.tree.flatten(actual)
    lb, tb = jax.tree.flatten(expected)
    assert ta == tb, f"{msg}: {ta} vs {tb}"
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{msg}: shape {x.shape} vs {y.shape}"
        assert x.dtype == y.dtype, f"{msg}: dtype {x.dtype} vs {y.dtype}"
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=msg)


def check_loss(
    name: str,
    *args: Any,
    grad_argnums: int | tuple[int, ...] | None = None,
    jit: bool = True,
    eager: bool = False,
    rtol: float = RTOL,
    atol: float = ATOL,
    return_grad: bool = False,
    **kwargs: Any,
) -> Any:
    """Run ``tsx.losses.<name>`` and ``optax.losses.<name>`` on the same inputs.

    Compares the values under ``jax.jit`` (and op by op with ``eager=True``:
    first-time eager dispatch compiles every primitive, which is slow) and, when
    ``grad_argnums`` is given, the gradients of the summed loss (under jit).
    Returns Optax's value (its gradient with ``return_grad=True``) so callers
    can assert more about it.
    """
    ours = getattr(tsx.losses, name)
    theirs = getattr(optax.losses, name)
    expected = None
    if eager:
        expected = theirs(*args, **kwargs)
        assert_same(ours(*args, **kwargs), expected, rtol, atol, f"{name} value")
    if jit or grad_argnums is not None:
        # One compiled function per library: the value and, if asked, the
        # gradient of the summed loss (eager gradients compile op by op).
        def both(fn):
            def run(*a):
                value = fn(*a, **kwargs)
                if grad_argnums is None:
                    return value, None
                grad = jax.grad(lambda *b: fn(*b, **kwargs).sum(), grad_argnums)(*a)
                return value, grad

            return jax.jit(run)(*args)

        (got, grad_ours), (want, grad_theirs) = both(ours), both(theirs)
        assert_same(got, want, rtol, atol, f"{name} jit value")
        assert_same(grad_ours, grad_theirs, rtol, atol, f"{name} gradient")
        return grad_theirs if return_grad else want
    return expected


def _parameters(fn: Any) -> list[tuple]:
    out = []
    for p in inspect.signature(fn).parameters.values():
        default = p.default
        if type(default).__module__.split(".")[0] in ("optax", "tsx"):
            # Instances of each library's own classes (e.g. noise=Gumbel()).
            default = ("instance of", type(default).__name__)
        out.append((p.name, p.kind, default))
    return out


def public_names(module: Any) -> set[str]:
    """A module's public names, without the imported modules Optax leaks."""
    return {
        n
        for n in dir(module)
        if not n.startswith("_") and not inspect.ismodule(getattr(module, n))
    }


def assert_signatures_match(ours: Any, theirs: Any, names: Any) -> None:
    """Same parameter names, kinds and defaults for each callable in ``names``."""
    for name in sorted(names):
        a, b = getattr(ours, name), getattr(theirs, name)
        if inspect.isclass(b):
            continue  # Classes: their methods are compared by their own tests.
        assert _parameters(a) == _parameters(b), name
