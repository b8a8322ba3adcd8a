"""Linear-algebra helpers Optax exports at top level.

* :func:`power_iteration`: dominant eigenpair of a matrix or linear operator
  (von Mises & Pollaczek-Geiringer, 1929).
* :func:`matrix_inverse_pth_root`: :math:`A^{-1/p}` of a symmetric PSD
  matrix by the coupled Newton iteration (Higham, 2008, "Functions of
  Matrices", eq. 7.18), as used by Shampoo.
* :func:`nnls`: non-negative least squares by fast projected gradient
  (Polyak, 2015, "Projected gradient method for non-negative least square",
  Contemp. Math. 636).
* :func:`multi_normal`: a diagonal Gaussian parameterised by its mean and
  log standard deviation (kept here because Optax exports it at top level).
* :func:`global_norm`: deprecated alias of :func:`tsx.tree.norm`.
"""


import numbers
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.stats.norm as _normal
import numpy as np

from tsx import tree_utils as tu
from tsx._base import ArrayTree
from tsx.validation import check_non_negative, check_positive

__all__ = [
    "global_norm",
    "matrix_inverse_pth_root",
    "multi_normal",
    "nnls",
    "power_iteration",
]


def global_norm(updates: ArrayTree) -> jax.Array:
    """L2 norm of all leaves together (deprecated: use :func:`tsx.tree.norm`).

    Args:
      updates: a tree of arrays.

    Returns:
      The scalar ``sqrt(sum of squares of every element)``.
    """
    warnings.warn(
        "tsx.global_norm is deprecated in favor of tsx.tree.norm",
        DeprecationWarning,
        stacklevel=2,
    )
    return tu.tree_norm(updates)


def _unit(tree: ArrayTree) -> ArrayTree:
    return tu.tree_scale(1.0 / tu.tree_norm(tree), tree)


def power_iteration(
    matrix: jax.typing.ArrayLike | Callable[[ArrayTree], ArrayTree],
    *,
    v0: ArrayTree | None = None,
    num_iters: jax.typing.ArrayLike = 100,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: jax.lax.Precision = jax.lax.Precision.HIGHEST,
    key: jax.Array | None = None,
) -> tuple[jax.typing.ArrayLike, ArrayTree]:
    """Dominant eigenvalue and unit eigenvector by power iteration.

    Repeats :math:`v \\leftarrow Av / \\|Av\\|` with the Rayleigh quotient
    :math:`\\lambda = \\langle v, Av \\rangle`, until
    :math:`\\|Av - \\lambda v\\| / |\\lambda| <` ``error_tolerance`` or
    ``num_iters`` products.

    Args:
      matrix: a square array, or a function computing the product with any
        tree shaped like ``v0``.
      v0: starting vector (required for a function); default: uniform in
        [-1, 1] drawn with ``key`` (default ``PRNGKey(0)``).
      num_iters: the most matrix-vector products.
      error_tolerance: relative residual at which to stop.
      precision: matmul precision for an array ``matrix``.
      key: random key for the default ``v0``.

    Returns:
      ``(eigenvalue, eigenvector)``.
    """
    if callable(matrix):
        if v0 is None:
            raise ValueError(
                "v0 must be given when matrix is a function (its input structure "
                "is unknown)."
            )
        product = matrix
    else:
        matrix = jnp.asarray(matrix)

        def product(v):
            return jnp.matmul(matrix, v, precision=precision)

        if v0 is None:
            key = jax.random.PRNGKey(0) if key is None else key
            v0 = jax.random.uniform(
                key, matrix.shape[-1:], dtype=matrix.dtype, minval=-1.0, maxval=1.0
            )

    def not_converged(carry):
        v, av, eig, i = carry
        residual = tu.tree_norm(tu.tree_sub(av, tu.tree_scale(eig, v)))
        # Before the first update eig = 0, so the ratio is inf/NaN: continue.
        return ~(jnp.abs(residual / eig) < error_tolerance) & (i < num_iters)

    def iterate(carry):
        _, av, _, i = carry
        v = _unit(av)
        av = product(v)
        return v, av, tu.tree_vdot(v, av), i + 1

    v0 = _unit(v0)
    start = (v0, product(v0), jnp.asarray(0.0), jnp.asarray(0))
    _, av, eig, _ = jax.lax.while_loop(not_converged, iterate, start)
    return eig, _unit(av)


def _static_int(p: object) -> int | None:
    if isinstance(p, numbers.Integral) and not isinstance(p, bool):
        return int(p)
    if isinstance(p, float) and p.is_integer():
        return int(p)
    if isinstance(p, (np.ndarray, np.generic)) and np.size(p) == 1:
        value = float(np.asarray(p).reshape(()))
        return int(value) if value.is_integer() else None
    return None


def _matrix_power(
    m: jax.Array, p: jax.typing.ArrayLike, precision: jax.lax.Precision
) -> jax.Array:
    """``m**p`` by repeated squaring.

    A concrete integer ``p`` may be any positive integer. A traced ``p``
    selects among 1, 2, 4 and 8 (the powers Shampoo uses), rounding
    ``log2(p)`` as Optax does.
    """

    def mul(a, b):
        return jnp.matmul(a, b, precision=precision)

    n = _static_int(p)
    if n is not None:
        result, square = None, m
        while n:
            if n & 1:
                result = square if result is None else mul(result, square)
            n >>= 1
            if n:
                square = mul(square, square)
        return result

    def pow2(k):
        def f(x):
            for _ in range(k):
                x = mul(x, x)
            return x

        return f

    index = jnp.asarray(jnp.round(jnp.log2(p)), jnp.int32)
    return jax.lax.switch(index, [pow2(0), pow2(1), pow2(2), pow2(3)], m)


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: jax.typing.ArrayLike,
    num_iters: jax.typing.ArrayLike = 100,
    ridge_epsilon: jax.typing.ArrayLike = 1e-6,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: jax.lax.Precision = jax.lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.typing.ArrayLike]:
    """:math:`(A + \\epsilon\\lambda_{max} I)^{-1/p}` by coupled Newton iterations.

    With :math:`\\alpha = -1/p`, :math:`z = (1+p) / (2\\|A\\|_F)`,
    :math:`M_0 = zA`, :math:`H_0 = z^{1/p} I`, iterate

    .. math::

       T_k = (1-\\alpha) I + \\alpha M_k, \\quad
       M_{k+1} = T_k^p M_k, \\quad H_{k+1} = H_k T_k,

    so :math:`M_k \\to I` and :math:`H_k \\to A^{-1/p}` (Higham, 2008,
    "Functions of Matrices", eq. 7.18). The loop stops when
    :math:`\\max|M_k - I| \\le` ``error_tolerance``, after ``num_iters``, or
    when the error grows by more than 20% (then the previous :math:`H` is
    returned). The iteration runs in float32; the ridge is relative to the
    largest eigenvalue (from :func:`power_iteration`).

    Args:
      matrix: symmetric positive semi-definite ``(n, n)`` matrix.
      p: positive integer exponent.
      num_iters: the most iterations.
      ridge_epsilon: relative ridge added to the diagonal.
      error_tolerance: stopping threshold on ``max|M - I|``.
      precision: matmul precision.

    Returns:
      ``(matrix ** (-1/p), error)`` with ``error = max|M - I|`` at the end.
    """
    check_positive("p", p, who="matrix_inverse_pth_root")
    check_non_negative("ridge_epsilon", ridge_epsilon, who="matrix_inverse_pth_root")
    matrix = jnp.asarray(matrix)
    size = matrix.shape[0]
    alpha = jnp.asarray(-1.0 / p, jnp.float32)
    eye = jnp.eye(size, dtype=jnp.float32)
    max_ev, _ = power_iteration(
        matrix=matrix, num_iters=100, error_tolerance=1e-6, precision=precision
    )
    ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)

    if size == 1:
        return (matrix + ridge) ** alpha, 0

    def mul(a, b):
        return jnp.matmul(a, b, precision=precision)

    def keep_going(carry):
        i, _, _, _, error, improving = carry
        return (i < num_iters) & (error > error_tolerance) & improving

    def newton(carry):
        i, m, h, _, error, _ = carry
        t = (1 - alpha) * eye + alpha * m
        new_m = mul(_matrix_power(t, p, precision), m)
        new_h = mul(h, t)
        new_error = jnp.max(jnp.abs(new_m - eye))
        # The error may rise briefly before converging: allow up to 20%.
        return i + 1, new_m, new_h, h, new_error, new_error < error * 1.2

    damped = matrix + ridge * eye
    z = (1 + p) / (2 * jnp.linalg.norm(damped))
    m0 = damped * z
    h0 = eye * jnp.power(z, 1.0 / p)
    start = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - eye)), True)
    _, m, h, prev_h, _, improving = jax.lax.while_loop(keep_going, newton, start)
    error = jnp.max(jnp.abs(m - eye))
    result = jnp.where(improving, h, prev_h)
    return jnp.asarray(result, matrix.dtype), error


def _spectral_radius_bound(q: jax.Array) -> jax.Array:
    # Both the Frobenius norm and the max column sum bound the spectral radius.
    frobenius = jnp.linalg.matrix_norm(q, ord="fro")
    if q.size == 0:
        return jnp.minimum(frobenius, 0)
    return jnp.minimum(frobenius, jnp.linalg.matrix_norm(q, ord=1))


def nnls(
    A: jax.Array,  # noqa: N803 - the usual name of the matrix
    b: jax.Array,
    iters: int,
    unroll: int | bool = 1,
    L: jax.typing.ArrayLike | None = None,  # noqa: N803 - Lipschitz constant
) -> jax.Array:
    """Non-negative least squares: ``argmin_{x >= 0} ||A x - b||``.

    Fast projected gradient (Polyak, 2015): with :math:`Q = A^\\top A`,
    :math:`q = A^\\top b` and :math:`L \\ge \\rho(Q)`,

    .. math::

       c_{k+1} = \\tfrac{1}{2}(1 + \\sqrt{1 + 4c_k^2}),\\quad
       x_{k+1} = \\max(0, p_k - (Qp_k - q)/L),\\quad
       p_{k+1} = x_{k+1} + \\tfrac{c_k - 1}{c_{k+1}} (x_{k+1} - x_k),

    from :math:`x_0 = p_0 = 0`, :math:`c_0 = 0`, for ``iters`` steps.

    Args:
      A: ``(M, N)`` matrix.
      b: ``(M,)`` vector or ``(M, K)`` matrix (``K`` problems at once).
      iters: number of iterations.
      unroll: passed to :func:`jax.lax.scan`.
      L: an upper bound on the spectral radius of ``A.T @ A`` (default:
        ``min(||Q||_F, ||Q||_1)``).

    Returns:
      ``x`` of shape ``(N,)`` or ``(N, K)``.
    """
    A, b = jnp.asarray(A), jnp.asarray(b)  # noqa: N806
    if A.ndim != 2:
        raise ValueError(f"A must be a matrix, got A.shape={A.shape}.")
    if b.ndim not in (1, 2):
        raise ValueError(f"b must be a vector or a matrix, got b.shape={b.shape}.")
    if b.shape[0] != A.shape[0]:
        raise ValueError(
            f"b.shape[0] must equal A.shape[0]; got A.shape={A.shape}, "
            f"b.shape={b.shape}."
        )
    q_mat = A.mT @ A
    q_vec = A.mT @ b
    lipschitz = _spectral_radius_bound(q_mat) if L is None else L
    lipschitz = jnp.where(lipschitz == 0, 1, lipschitz)

    def fpg(carry, _):
        x, p, c = carry
        c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
        momentum = (c - 1) / c_next
        x_next = (p - (q_mat @ p - q_vec) / lipschitz).clip(0)
        p_next = x_next + momentum * (x_next - x)
        return (x_next, p_next, c_next), None

    x0 = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
    (x, _, _), _ = jax.lax.scan(fpg, (x0, x0, 0.0), length=iters, unroll=unroll)
    return x


class MultiNormalDiagFromLogScale:
    """Independent normals with mean ``loc`` and std ``exp(log_scale)``."""

    def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike):
        self._log_scale = jnp.asarray(log_scale)
        self._scale = jnp.exp(log_scale)
        self._mean = jnp.asarray(loc)
        self._param_shape = jax.lax.broadcast_shapes(
            self._mean.shape, self._scale.shape
        )

    def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
        """Draws of shape ``(*shape, *param_shape)``: ``loc + scale * N(0, 1)``."""
        full = tuple(shape) + self._param_shape
        return jax.random.normal(key, shape=full) * self._scale + self._mean

    def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
        """Log density, summed over the parameter axes."""
        per_coordinate = _normal.logpdf(x, loc=self._mean, scale=self._scale)
        axes = tuple(-(i + 1) for i in range(len(self._param_shape)))
        return jnp.sum(per_coordinate, axis=axes)

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> Sequence[jax.Array]:
        return [self._mean, self._log_scale]


def multi_normal(
    loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike
) -> MultiNormalDiagFromLogScale:
    """A diagonal multivariate normal from its mean and log standard deviation.

    Args:
      loc: the mean.
      log_scale: the log standard deviation, shaped like ``loc``.

    Returns:
      A ``MultiNormalDiagFromLogScale`` with ``sample`` and ``log_prob``.
    """
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
