"""Exponential moving averages of parameters (Polyak-Ruppert averaging).

After the ``n``-th averaging step (``n = 0, 1, ...``) with new parameters
``p``, the average is

    e_{n+1} = d_n * e_n + (1 - d_n) * p,        e_0 = p_0 (the initial params).

With a constant decay ``d`` and parameters ``p_1 ... p_N`` this is the closed
form ``e_N = d^N p_0 + (1 - d) sum_{i=1}^{N} d^{N-i} p_i``: early on the
average is dominated by the initial weights. A decay warm-up lowers ``d_n``
for small ``n``; the default warm-up (the num_updates rule of TensorFlow's
``ExponentialMovingAverage``) is

    d_n = min(d, (1 + n) / (10 + n)).

:class:`ParamsEMA` is the state of this feature in ``TrainState``: the
averages of the parameters (and of Linen's ``batch_stats``), moved on every
``every``-th applied optimizer update.

References: Polyak & Juditsky, 1992, "Acceleration of Stochastic
Approximation by Averaging"; Tarvainen & Valpola, 2017, "Mean teachers are
better role models".
"""


from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from tsx import tree_utils as tu
from tsx.validation import POSITIVE_INT, PROBABILITY, Kind, check

__all__ = ["EmaWarmup", "ParamsEMA", "ema_decay_at", "ema_update", "tf_warmup"]

# ``False``/``None``: constant decay; ``True``: :func:`tf_warmup`; a callable
# ``n -> d_n`` (capped at the decay).
EmaWarmup = bool | Callable[[jax.Array], jax.typing.ArrayLike] | None


def tf_warmup(count: jax.typing.ArrayLike) -> jax.Array:
    """``(1 + n) / (10 + n)``: 0.1 at the first averaging step, tending to 1."""
    n = jnp.asarray(count, jnp.float32)
    return (1.0 + n) / (10.0 + n)


def ema_decay_at(
    decay: float, count: jax.typing.ArrayLike, warmup: EmaWarmup = False
) -> jax.Array:
    """The decay ``d_n`` used at averaging step ``n = count`` (0-based)."""
    d = jnp.asarray(decay, jnp.float32)
    if warmup is None or warmup is False:
        return d
    schedule = tf_warmup if warmup is True else warmup
    return jnp.minimum(d, jnp.asarray(schedule(jnp.asarray(count)), jnp.float32))


def ema_update(average: Any, new: Any, decay: jax.typing.ArrayLike) -> Any:
    """``d * average + (1 - d) * new`` leaf by leaf, in the average's dtype."""

    def one(e: jax.Array, p: jax.Array) -> jax.Array:
        dt = jnp.asarray(e).dtype
        d = jnp.asarray(decay).astype(jnp.promote_types(dt, jnp.float32))
        return (d * e + (1 - d) * p).astype(dt)

    return jax.tree.map(one, average, new)


_WARMUP = Kind(
    "True, False, None or a function n -> decay",
    lambda v: None if v in (True, False, None) or callable(v) else TypeError,
)


def _copy(tree: Any) -> Any:
    # A real copy: an average aliasing the params' buffers could not be
    # donated together with them.
    return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


@struct.dataclass
class ParamsEMA:
    """The exponential moving average of the parameters (and batch stats).

    Attributes:
      params: the average of the parameters.
      batch_stats: the average of Linen's ``batch_stats``, or None.
      decay: ``d`` in ``[0, 1]``; static.
      warmup: ``False``/``None`` (constant decay), ``True`` (:func:`tf_warmup`)
        or a function ``n -> d_n`` capped at ``decay``; static.
      every: average every ``every``-th applied optimizer update; static.
    """

    params: Any
    batch_stats: Any = None
    decay: float = struct.field(pytree_node=False, default=0.999)
    warmup: EmaWarmup = struct.field(pytree_node=False, default=False)
    every: int = struct.field(pytree_node=False, default=1)

    @classmethod
    def create(
        cls,
        params: Any,
        batch_stats: Any = None,
        *,
        decay: float,
        warmup: EmaWarmup = False,
        every: int = 1,
    ) -> "ParamsEMA":
        """Averages starting at (copies of) ``params`` and ``batch_stats``."""
        who = "TrainState.create"
        check(who, "ema_decay", decay, PROBABILITY)
        if not isinstance(decay, int | float):
            raise TypeError(
                f"{who}: ema_decay must be a Python float, got ema_decay={decay!r}."
            )
        check(who, "ema_every", every, POSITIVE_INT)
        check(who, "ema_warmup", warmup, _WARMUP)
        return cls(
            params=_copy(params),
            batch_stats=None if batch_stats is None else _copy(batch_stats),
            decay=float(decay),
            warmup=warmup,
            every=every,
        )

    def update(
        self, params: Any, batch_stats: Any, step: jax.Array, applied: Any = True
    ) -> "ParamsEMA":
        """The averages after optimizer update number ``step`` (1-based).

        They move only where ``applied`` and ``step`` is a multiple of
        ``every``; ``n = step // every - 1`` averaging steps came before.
        """
        moves = jnp.asarray(applied, bool)
        if self.every > 1:
            moves = moves & (step % self.every == 0)
        d = ema_decay_at(self.decay, step // self.every - 1, self.warmup)
        new_params = tu.tree_where(
            moves, ema_update(self.params, params, d), self.params
        )
        new_stats = self.batch_stats
        if self.batch_stats is not None and batch_stats is not None:
            new_stats = tu.tree_where(
                moves, ema_update(self.batch_stats, batch_stats, d), self.batch_stats
            )
        return self.replace(params=new_params, batch_stats=new_stats)
