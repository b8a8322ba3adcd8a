"""Moving averages of gradients: exponential moments, bias correction, running means.

For a decay ``beta`` and gradient ``g_t`` the moment of order ``k`` is
``m_t = (1 - beta) g_t^k + beta m_{t-1}``; starting from ``m_0 = 0`` it is
biased towards zero by the factor ``1 - beta^t``, which
:func:`tree_bias_correction` divides out (Kingma & Ba, 2015, arXiv:1412.6980).

The running (arithmetic) mean of ``g_1 ... g_n`` is kept incrementally by
:func:`tree_running_mean`, the one implementation every accumulator in tsx
uses (gradient accumulation, ``MultiSteps``, micro-batching, aggregators).
"""


import functools
from typing import Any

import jax
import jax.numpy as jnp

from tsx.numerics import abs_sq

__all__ = [
    "tree_bias_correction",
    "tree_running_mean",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
]


def _is_none(x: Any) -> bool:
    return x is None


def tree_update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """``(1 - decay) g**order + decay m`` for every leaf (``None`` stays None).

    Args:
      updates: the gradients ``g``.
      moments: the previous moments ``m``.
      decay: ``decay`` in ``[0, 1]``.
      order: the power of ``g`` (1 for the mean, 2 for the second moment).
    """

    def one(g, m):
        if g is None:
            return None
        return (1 - decay) * (g**order) + decay * m

    return jax.tree.map(one, updates, moments, is_leaf=_is_none)


def tree_update_infinity_moment(
    updates: Any, moments: Any, decay: Any, eps: Any
) -> Any:
    """``max(|g| + eps, decay m)``: the decayed infinity norm used by Adamax.

    Args:
      updates: the gradients ``g``.
      moments: the previous moments ``m``.
      decay: ``decay`` in ``[0, 1]``.
      eps: added to ``|g|``.
    """

    def one(g, m):
        if g is None:
            return None
        return jnp.maximum(jnp.abs(g) + eps, decay * m)

    return jax.tree.map(one, updates, moments, is_leaf=_is_none)


def tree_update_moment_per_elem_norm(
    updates: Any, moments: Any, decay: Any, order: int
) -> Any:
    """EMA of ``|g|**order``; for complex ``g`` uses ``|g|^2 = g conj(g)``.

    Args:
      updates: the gradients ``g``.
      moments: the previous moments.
      decay: ``decay`` in ``[0, 1]``.
      order: the power of ``|g|``.
    """

    def power(g):
        if not jnp.iscomplexobj(g):
            return g**order
        half = order / 2
        # An integer exponent lowers to repeated multiplication, like the real path.
        return abs_sq(g) ** (int(half) if float(half).is_integer() else half)

    def one(g, m):
        if g is None:
            return None
        return (1 - decay) * power(g) + decay * m

    return jax.tree.map(one, updates, moments, is_leaf=_is_none)


@functools.partial(jax.jit, inline=True)
def tree_bias_correction(moment: Any, decay: Any, count: Any) -> Any:
    """``m / (1 - decay**count)``, the division done in each leaf's dtype.

    ``decay**count`` is computed in the precision of ``decay``/``count`` (not of
    a bfloat16 moment, where it would round to 1 and divide by zero). Jitted
    (inlined into an enclosing jit) so eager calls round like jitted ones.
    """
    correction = 1 - jnp.asarray(decay) ** count
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)


def tree_running_mean(mean: Any, value: Any, count: jax.typing.ArrayLike) -> Any:
    """The mean of ``count + 1`` values from the mean of the first ``count``.

    ``a_{n+1} = a_n + (g_{n+1} - a_n) / (n + 1)`` leaf by leaf, with ``n =
    count`` (so ``count = 0`` gives ``g``). The accumulator never holds a sum
    ``n`` times larger than its terms (which could overflow in low precision).
    Each result has the dtype of its ``mean`` leaf.

    Args:
      mean: the mean of the first ``count`` values (a tree).
      value: the next value, with ``mean``'s structure.
      count: how many values ``mean`` averages (>= 0).
    """

    def one(m, g):
        if m is None:
            return None
        return (m + (g - m) / (count + 1)).astype(jnp.asarray(m).dtype)

    return jax.tree.map(one, mean, value, is_leaf=_is_none)
