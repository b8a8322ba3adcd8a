"""Warmup-stable-decay (WSD): warmup, a long plateau, and a short final decay."""


import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from tsx._base import Schedule
from tsx.validation import (
    PROBABILITY,
    STEPS,
    choice,
    hyperparameters,
    integer,
    real,
)

__all__ = ["warmup_stable_decay_schedule"]


def _linear_shape(progress: jax.Array) -> jax.Array:
    return 1.0 - progress


def _cosine_shape(progress: jax.Array) -> jax.Array:
    return 0.5 * (1.0 + jnp.cos(jnp.pi * progress))


def _one_minus_sqrt_shape(progress: jax.Array) -> jax.Array:
    return 1.0 - jnp.sqrt(progress)


# Each maps decay progress p in [0, 1] to the fraction of (peak - end) left.
_DECAY_SHAPES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": _linear_shape,
    "cosine": _cosine_shape,
    "1-sqrt": _one_minus_sqrt_shape,
}


@hyperparameters(
    peak_value=real(),
    total_steps=integer(1, whole_floats=True),
    warmup_steps=STEPS,
    decay_fraction=PROBABILITY,
    init_value=real(),
    end_value=real(),
    decay_type=choice(*_DECAY_SHAPES),
)
def warmup_stable_decay_schedule(
    peak_value: jax.typing.ArrayLike,
    total_steps: int,
    warmup_steps: int = 0,
    decay_fraction: float = 0.1,
    init_value: jax.typing.ArrayLike = 0.0,
    end_value: jax.typing.ArrayLike = 0.0,
    decay_type: str = "linear",
) -> Schedule:
    r"""Linear warmup, a constant plateau, then a short decay to ``end_value``.

    The warmup-stable-decay (WSD) schedule keeps the learning rate at its peak
    for most of training and only anneals over the last fraction of steps, so
    a run can be continued from any plateau checkpoint and decayed when
    needed. With :math:`I` = ``init_value``, :math:`P` = ``peak_value``,
    :math:`E` = ``end_value``, :math:`T` = ``total_steps``, :math:`W` =
    ``warmup_steps`` and :math:`D = \operatorname{round}(f\,T)` decay steps
    (:math:`f` = ``decay_fraction``, halves rounded up), the decay starts at
    :math:`S = T - D` and

    .. math::
      s(t) = \begin{cases}
        I + (P - I)\, t / W, & t < W \\
        P, & W \le t < S \\
        E + (P - E)\, g\bigl((t - S) / D\bigr), & S \le t < T \\
        E, & t \ge T
      \end{cases}

    where the decay shape :math:`g` maps progress :math:`p \in [0, 1]` to

    * ``'linear'``: :math:`g(p) = 1 - p`;
    * ``'cosine'``: :math:`g(p) = \tfrac12 (1 + \cos \pi p)`;
    * ``'1-sqrt'``: :math:`g(p) = 1 - \sqrt{p}` (Hägele et al., 2024).

    Steps before 0 give ``init_value``.

    References:
      Hu et al., `MiniCPM: Unveiling the Potential of Small Language Models
      with Scalable Training Strategies <https://arxiv.org/abs/2404.06395>`_,
      2024 (the WSD schedule).
      Hägele et al., `Scaling Laws and Compute-Optimal Training Beyond Fixed
      Training Durations <https://arxiv.org/abs/2405.18392>`_, 2024 (the
      ``1-sqrt`` cooldown).

    Args:
      peak_value: the plateau value, reached at the end of the warmup.
      total_steps: length of the whole schedule (warmup, plateau and decay);
        must be positive.
      warmup_steps: length of the linear warmup; must be >= 0.
      decay_fraction: fraction of ``total_steps`` spent decaying, in [0, 1].
      init_value: the value at step 0.
      end_value: the value reached at ``total_steps`` and kept after.
      decay_type: ``'linear'``, ``'cosine'`` or ``'1-sqrt'``.

    Returns:
      A function ``step -> value``.

    Raises:
      ValueError: naming the argument if ``total_steps``, ``warmup_steps``,
        ``decay_fraction`` or ``decay_type`` is invalid, or if the warmup and
        the decay do not fit in ``total_steps``.
    """
    decay_steps = math.floor(decay_fraction * total_steps + 0.5)
    if warmup_steps + decay_steps > total_steps:
        raise ValueError(
            "warmup_steps plus the decay (round(decay_fraction * total_steps) = "
            f"{decay_steps} steps) must fit in total_steps={total_steps!r}; got "
            f"warmup_steps={warmup_steps!r}, decay_fraction={decay_fraction!r}."
        )
    shape = _DECAY_SHAPES[decay_type]
    decay_start = total_steps - decay_steps

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        t = jnp.asarray(count)
        # max(., 1) only guards empty phases, whose branch is never selected.
        ramp = jnp.clip(t / max(warmup_steps, 1), 0.0, 1.0)
        warm = init_value + (peak_value - init_value) * ramp
        progress = jnp.clip((t - decay_start) / max(decay_steps, 1), 0.0, 1.0)
        decayed = end_value + (peak_value - end_value) * shape(progress)
        value = jnp.where(t < decay_start, peak_value, decayed)
        value = jnp.where(t < warmup_steps, warm, value)
        return jnp.where(t >= total_steps, end_value, value)

    return schedule
