"""Fenchel-Young losses built from a regularized max (a convex conjugate)."""


from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["make_fenchel_young_loss"]


def make_fenchel_young_loss(
    max_fun: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., jax.Array]:
    r"""Build the Fenchel-Young loss of a regularized max function.

    For a convex :math:`\Omega` with conjugate
    :math:`\Omega^*(\theta) = \max_p \langle \theta, p\rangle - \Omega(p)`
    (``max_fun``), the loss is

    .. math::
        L(\theta; y) = \Omega^*(\theta) - \langle y, \theta\rangle

    (up to the constant :math:`\Omega(y)`). ``logsumexp`` gives the softmax
    cross-entropy. The returned ``loss(scores, targets, *args, **kwargs)``
    works on the last axis and maps over any leading axes; extra arguments go
    to ``max_fun``.

    Args:
      max_fun: ``max_fun(scores, *args, **kwargs)`` on a 1-D ``scores``.

    Returns:
      the loss function.

    References:
      Blondel, Martins and Niculae, "Learning with Fenchel-Young Losses",
      JMLR 21, 2020, arXiv:1901.02324.
    """
    inner = jnp.vectorize(jnp.vdot, signature="(n),(n)->()")
    conjugate = jnp.vectorize(max_fun, signature="(n)->()")

    def fenchel_young_loss(scores: Any, targets: Any, *args: Any, **kwargs: Any):
        return conjugate(scores, *args, **kwargs) - inner(targets, scores)

    return fenchel_young_loss
