"""SGDR: cosine decay with warm restarts."""


from collections.abc import Iterable

import jax

from tsx._base import Schedule
from tsx.schedules._join import join_schedules
from tsx.schedules._warmup import warmup_cosine_decay_schedule

__all__ = ["sgdr_schedule"]


def sgdr_schedule(
    cosine_kwargs: Iterable[dict[str, jax.typing.ArrayLike]],
) -> Schedule:
    r"""Restart a (warmup +) cosine decay cycle several times.

    Each element of ``cosine_kwargs`` holds the keyword arguments of one
    :func:`warmup_cosine_decay_schedule` cycle; cycle :math:`k` runs for its
    ``decay_steps`` steps, starting where cycle :math:`k-1` ended:

    .. math::
      s(t) = s_k\Bigl(t - \sum_{j<k} D_j\Bigr) \quad\text{for}\quad
      \sum_{j<k} D_j \le t < \sum_{j\le k} D_j.

    The last cycle holds its end value after it finishes.

    References:
      Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm
      Restarts <https://arxiv.org/abs/1608.03983>`_, ICLR 2017.

    Args:
      cosine_kwargs: one dict of :func:`warmup_cosine_decay_schedule`
        arguments per cycle (``decay_steps`` sets the cycle's length).

    Returns:
      A function ``step -> value``.
    """
    cycles, ends = [], []
    elapsed = 0
    for kwargs in cosine_kwargs:
        cycles.append(warmup_cosine_decay_schedule(**kwargs))
        elapsed += kwargs["decay_steps"]
        ends.append(elapsed)
    if not cycles:
        raise ValueError("cosine_kwargs must describe at least one cycle, got none.")
    # A cycle's end is the next one's start; the last end has no successor.
    return join_schedules(cycles, ends[:-1])
