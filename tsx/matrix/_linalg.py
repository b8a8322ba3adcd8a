"""Matrix functions for preconditioners, in float32.

Each takes one symmetric matrix; batches go through ``jax.vmap`` (or
:func:`tsx.sharding.map_blocks`, which also spreads them over devices).
:func:`orthonormalize`, plain matrix products, takes a matrix or a stack.
"""


import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "eigenbasis",
    "inverse_root",
    "one_at_a_time_on_cpu",
    "orthonormalize",
    "qr_eigenbasis",
    "spectral_norm_lower_bound",
]


def one_at_a_time_on_cpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that, batched by ``jax.vmap`` on CPU, runs one matrix at a time.

    jaxlib's CPU LAPACK kernels (``eigh``, ``qr``, triangular solves) split
    a batch over XLA's intra-op thread pool and wait for the pieces from a
    thread of that same pool. When as many batched kernels run at once as
    the pool has threads (two on a 2-core machine), every thread waits and
    the program never finishes. Under ``vmap`` on CPU the wrapped function
    therefore runs as a ``jax.lax.map`` of single matrices, which never
    waits on the pool; on other platforms it stays one batched kernel.

    Args:
      fn: a function of arrays whose batching should avoid batched kernels.
    """
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = [
            a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))
            for a, b in zip(args, in_batched, strict=True)
        ]
        out = jax.lax.platform_dependent(
            *args,
            cpu=lambda *xs: jax.lax.map(lambda x: wrapped(*x), xs),
            default=jax.vmap(fn),
        )
        return out, jax.tree.map(lambda _: True, out)

    return functools.wraps(fn)(wrapped)


@one_at_a_time_on_cpu
def _eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.linalg.eigh(a)


@one_at_a_time_on_cpu
def _qr(a: jax.Array) -> jax.Array:
    return jnp.linalg.qr(a)[0]


def _symmetric(a: jax.Array) -> jax.Array:
    a = a.astype(jnp.float32)
    return 0.5 * (a + a.T)


def inverse_root(a: jax.Array, p: int | float, eps: float = 1e-6) -> jax.Array:
    """``(A + eps * lambda_max * I)^(-1/p)`` of a symmetric PSD matrix ``A``.

    From the eigendecomposition ``A = V diag(w) V^T`` in float32: eigenvalues
    are clipped at 0 (rounding makes tiny ones negative), and the damping is
    relative to the largest, so the result does not depend on the scale of
    ``A`` beyond a factor ``c^(-1/p)``; a zero matrix gives
    ``eps^(-1/p) * I``.

    Args:
      a: a symmetric positive semi-definite matrix.
      p: the root (4 for two-sided Shampoo, 2 for one-sided).
      eps: relative damping.
    """
    w, v = _eigh(_symmetric(a))
    w = jnp.maximum(w, 0.0)
    top = jnp.max(w)
    damping = eps * jnp.where(top > 0, top, 1.0)
    return (v * (w + damping) ** (-1.0 / p)) @ v.T


def eigenbasis(a: jax.Array) -> jax.Array:
    """The eigenvectors of symmetric ``A`` as columns, largest eigenvalue first."""
    _, v = _eigh(_symmetric(a))
    return v[:, ::-1]


def qr_eigenbasis(a: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step of QR power iteration from basis ``q`` towards ``A``'s eigenbasis.

    Columns are first ordered by their estimated eigenvalue
    ``diag(q^T A q)`` (largest first), then ``q <- QR(A q)``; returns the new
    basis and the order applied, so that statistics kept in the old basis can
    be permuted alike (Vyas et al. 2024, "SOAP", arXiv:2409.11321).

    Args:
      a: a symmetric matrix.
      q: an orthogonal matrix (the previous estimate).
    """
    a = _symmetric(a)
    estimate = jnp.einsum("ij,ik,kj->j", q, a, q)
    order = jnp.argsort(-estimate)
    q = q[:, order]
    new = _qr(a @ q)
    return new, order


def orthonormalize(v: jax.Array, iterations: int = 3) -> jax.Array:
    r"""The nearest matrix with orthonormal columns to ``v``, by Björck's iteration.

    Each iteration maps

    .. math::

      V \leftarrow V \big(\tfrac{3}{2} I - \tfrac{1}{2} V^\top V\big),

    which leaves ``V``'s singular vectors in place and moves each singular
    value ``s`` to ``s (3 - s^2) / 2``: a deviation ``e = s - 1`` becomes
    about ``-3 e^2 / 2``, so the error squares each time. An orthogonal matrix
    rounded to 4-bit blocks (``max |V^T V - I|`` about 0.1) is orthogonal to
    float32 rounding after three iterations. A wide ``v`` (more columns than
    rows) gets orthonormal rows instead.

    Used to *rectify* eigenbases decoded from low-bit storage before they
    rotate anything (Wang et al., 2024, "4-bit Shampoo for Memory-Efficient
    Network Training", arXiv:2405.18144; Björck and Bowie, 1971, "An
    iterative algorithm for computing the best estimate of an orthogonal
    matrix").

    Args:
      v: a matrix (or a stack of them: the last two axes) whose columns are
        close to orthonormal (singular values in ``(0, sqrt(3))``).
      iterations: how many times the map is applied (a static int >= 0).
    """
    v = v.astype(jnp.float32)
    wide = v.shape[-1] > v.shape[-2]
    if wide:
        v = jnp.swapaxes(v, -1, -2)
    for _ in range(iterations):
        gram = jnp.swapaxes(v, -1, -2) @ v
        v = 1.5 * v - 0.5 * (v @ gram)
    return jnp.swapaxes(v, -1, -2) if wide else v


def spectral_norm_lower_bound(a: jax.Array) -> jax.Array:
    """``||A x|| / ||x||`` for ``A``'s column of largest norm: ``<= ||A||_2``.

    Cheap and tight for the nearly rank-one matrices of PSGD's updates (Li,
    "Preconditioned stochastic gradient descent", arXiv:1512.04202).
    """
    a = a.astype(jnp.float32)
    scale = jnp.max(jnp.abs(a))
    safe = jnp.where(scale > 0, scale, 1.0)
    b = a / safe
    x = b[:, jnp.argmax(jnp.sum(b * b, axis=0))]
    bound = jnp.linalg.norm(b @ x) / jnp.maximum(jnp.linalg.norm(x), 1e-30)
    return jnp.where(scale > 0, safe * bound, 0.0)
