"""SM3: memory-efficient adaptive preconditioning by covers of the tensor.

Anil et al. (2019), "Memory-Efficient Adaptive Optimization", NeurIPS,
arXiv:1901.11150. For a rank-``k`` tensor SM3 keeps one accumulator vector per
axis (the cover of the coordinates by the slices of each axis) instead of a
full second-moment tensor. At step :math:`t` (SM3-II, with ``b2 = 1``):

.. math::

   \\nu_t(i) = \\min_{r \\ni i} \\mu_{t-1}(r) + g_t(i)^2, \\qquad
   \\mu_t(r) = \\max_{j \\in r} \\nu_t(j),

the update is :math:`g_t / \\sqrt{\\nu_t + \\epsilon}` (zero where
:math:`\\nu_t = 0`), and a momentum ``b1`` averages these updates. With
``b2 < 1`` the accumulator is an exponential average,
:math:`\\nu_t = \\beta_2 \\min_r \\mu_{t-1}(r) + (1-\\beta_2) g_t^2`.
Scalars and vectors keep a full accumulator (for a scalar leaf tsx stores a
one-element list where Optax 0.2.8 stores an empty one and cannot step).
"""


import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tsx import tree_utils as tu
from tsx._base import GradientTransformation, GradientTransformationExtraArgs, Updates
from tsx._combine import chain
from tsx.transforms import scale
from tsx.validation import (
    DECAY,
    NON_NEGATIVE,
    PROBABILITY,
    hyperparameters,
)

__all__ = ["ScaleBySM3State", "scale_by_sm3", "sm3"]


class ScaleBySM3State(NamedTuple):
    """State of :func:`scale_by_sm3`.

    ``mu``: per leaf, a list with one accumulator vector per axis (for a
    scalar leaf, a one-element list); ``nu``: the momentum of the updates.
    """

    mu: Updates
    nu: Updates


def _axis_accumulators(x: jax.Array) -> list[jax.Array]:
    # One zero vector per axis, of that axis' length; eval_shape keeps the
    # sharding an axis-reduction of `x` would have. A scalar is its own cover
    # (Optax 0.2.8 stores an empty list there and then fails at update).
    if x.ndim == 0:
        return [jnp.zeros_like(x)]
    out = []
    for axis in range(x.ndim):
        others = tuple(i for i in range(x.ndim) if i != axis)
        target = jax.eval_shape(functools.partial(jnp.sum, axis=others), x)
        out.append(jnp.zeros_like(target))
    return out


def _broadcastable(vec: jax.Array, axis: int, ndim: int) -> jax.Array:
    if ndim == 0:
        return jnp.reshape(vec, ())
    shape = [1] * ndim
    shape[axis] = vec.shape[0]
    return jnp.reshape(vec, shape)


@hyperparameters(
    b1=DECAY,
    # b2 = 1 (the default) accumulates sums, as AdaGrad does.
    b2=PROBABILITY,
    eps=NON_NEGATIVE,
)
def scale_by_sm3(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
    """Rescale updates by SM3's cover-based accumulators, then average them.

    Args:
      b1: momentum of the rescaled updates, in [0, 1].
      b2: decay of the accumulator, in [0, 1]; ``1`` (default) accumulates
        sums as in the paper.
      eps: added under the square root.

    Complex parameters are rejected at ``init``.
    """

    def init_fn(params):
        if any(jnp.iscomplexobj(x) for x in jax.tree.leaves(params)):
            raise ValueError("scale_by_sm3 does not support complex parameters.")
        return ScaleBySM3State(
            # A list per leaf: kept out of NNX Variables (tree_unbox).
            mu=jax.tree.map(_axis_accumulators, tu.tree_unbox(params)),
            nu=tu.tree_zeros_like(params),
        )

    def accumulate(g, covers):
        # With b2 == 1 the new squared gradient is added at full weight.
        new_weight = 1.0 if b2 == 1.0 else 1.0 - b2
        if g.ndim < 2:
            prior = covers[0]
        else:
            prior = functools.reduce(jnp.minimum, covers)
        return new_weight * g**2 + b2 * prior

    def update_fn(updates, state, params=None):
        del params
        expanded = jax.tree.map(
            lambda g, mu: [_broadcastable(v, i, g.ndim) for i, v in enumerate(mu)],
            updates,
            state.mu,
        )
        accum = jax.tree.map(accumulate, updates, expanded)
        scaled = jax.tree.map(
            lambda g, a: g * jnp.where(a > 0, jax.lax.rsqrt(a + eps), 0.0),
            updates,
            accum,
        )
        nu = tu.tree_update_moment(scaled, state.nu, b1, 1)

        def reduce_per_axis(a):
            if a.ndim < 2:
                return [a]
            return [
                jnp.max(a, axis=tuple(j for j in range(a.ndim) if j != i))
                for i in range(a.ndim)
            ]

        mu = jax.tree.map(reduce_per_axis, accum)
        return nu, ScaleBySM3State(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


@hyperparameters(
    # A constant: Optax's sm3 takes no schedule (inject_hyperparams does).
    learning_rate=NON_NEGATIVE,
    momentum=DECAY,
)
def sm3(
    learning_rate: jax.typing.ArrayLike, momentum: jax.typing.ArrayLike = 0.9
) -> GradientTransformationExtraArgs:
    r"""SM3: Adagrad with one accumulator per row and column, sublinear memory.

    For a matrix parameter with row accumulators :math:`r` and column
    accumulators :math:`c`:

    .. math::

       \nu_t(i, j) &= \min(r_{t-1}(i), c_{t-1}(j)) + g_t(i, j)^2, \qquad
       r_t(i) = \max_j \nu_t(i, j), \quad c_t(j) = \max_i \nu_t(i, j), \\
       s_t &= g_t / \sqrt{\nu_t}, \qquad
       m_t = \mu\, m_{t-1} + (1 - \mu)\, s_t, \qquad u_t = -\eta\, m_t

    (one accumulator per dimension for tensors of any rank; vectors keep a full
    one).

    Args:
      learning_rate: :math:`\eta` >= 0, a constant (as in Optax, not a
        schedule).
      momentum: :math:`\mu`, in [0, 1). Default 0.9.

    Returns:
      A transformation with state ``(ScaleBySM3State(mu, nu), ScaleState())``.

    References:
      Anil et al., "Memory-Efficient Adaptive Optimization", NeurIPS 2019,
      arXiv:1901.11150.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = jnp.array([1.0, -2.0])
      >>> f = lambda p: jnp.sum((p - target) ** 2)
      >>> tx = tsx.sm3(learning_rate=0.5)
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = tsx.apply_updates(params, updates)
      >>> print(f"loss {f(jnp.zeros(2)):.2f} -> {f(params):.4f}")
      loss 5.00 -> 0.0000
    """
    return chain(scale_by_sm3(momentum), scale(-learning_rate))
