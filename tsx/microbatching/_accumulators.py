r"""How per-microbatch results are combined: sum, mean, running mean, concat.

An :class:`Accumulator` is a fold. Given the results :math:`x_0, \dots,
x_{n-1}` of the microbatches, the combined result is

.. code-block:: python

    carry = init(shape_and_dtype_of(x_0))
    for i in range(n):
        carry = update(carry, x_i, i)
    result = finalize(carry)

``aggregate`` combines values that carry an explicit leading batch axis (it
is what :func:`~tsx.microbatching.micro_vmap` applies within one microbatch).
"""


import dataclasses
import enum
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tsx.tree_utils import tree_running_mean

__all__ = ["AccumulationType", "Accumulator", "resolve_accumulator"]


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """A fold over microbatch results (see the module docstring).

    Attributes:
      init: ``init(shape_dtype) -> carry`` from the shape/dtype structure of
        one microbatch's result.
      update: ``update(carry, value, index) -> carry`` with microbatch
        ``index``'s result.
      finalize: ``finalize(carry) -> result``.
      aggregate: ``aggregate(values) -> result`` for values stacked along a
        leading axis.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """Built-in ways to combine microbatch results."""

    MEAN = enum.auto()
    """The mean over all microbatches (floating-point results only)."""
    SUM = enum.auto()
    """The sum over microbatches."""
    RUNNING_MEAN = enum.auto()
    """The mean over the microbatches actually run (see
    ``num_real_microbatches``); floating-point results only."""
    CONCAT = enum.auto()
    """The results concatenated along axis 0, in the original batch order."""


def _floating_only(fn: Callable) -> Callable:
    """Reject integer/boolean results before a mean is taken of them."""

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        dtypes = [leaf.dtype for leaf in jax.tree.leaves((args, kwargs))]
        if not all(jnp.issubdtype(d, jnp.floating) for d in dtypes):
            raise ValueError(
                "The MEAN and RUNNING_MEAN accumulators need floating-point "
                f"results, got dtypes {sorted(set(map(str, dtypes)))}."
            )
        return fn(*args, **kwargs)

    return checked


def _leafwise(acc: Accumulator) -> Accumulator:
    """Apply an array accumulator to every leaf of a subtree."""
    return Accumulator(
        init=lambda shapes: jax.tree.map(acc.init, shapes),
        update=lambda carry, value, index: jax.tree.map(
            lambda c, v: acc.update(c, v, index), carry, value
        ),
        finalize=lambda carry: jax.tree.map(acc.finalize, carry),
        aggregate=lambda values: jax.tree.map(acc.aggregate, values),
    )


def _check_count(num_microbatches: int | None) -> None:
    if num_microbatches is None or num_microbatches <= 0:
        raise ValueError(f"num_microbatches={num_microbatches} must be positive.")


def _sum() -> Accumulator:
    return _leafwise(
        Accumulator(
            init=jnp.zeros_like,
            update=lambda carry, value, _: carry + value,
            finalize=lambda carry: carry,
            aggregate=functools.partial(jnp.sum, axis=0),
        )
    )


def _mean(num_microbatches: int) -> Accumulator:
    _check_count(num_microbatches)
    return _leafwise(
        Accumulator(
            init=_floating_only(jnp.zeros_like),
            update=lambda carry, value, _: carry + value,
            finalize=lambda carry: carry / num_microbatches,
            aggregate=functools.partial(jnp.mean, axis=0),
        )
    )


def _running_mean() -> Accumulator:
    return _leafwise(
        Accumulator(
            init=_floating_only(jnp.zeros_like),
            update=tree_running_mean,
            finalize=lambda carry: carry,
            aggregate=functools.partial(jnp.mean, axis=0),
        )
    )


def _merged_sharding_kwargs(stacked: jax.Array) -> dict:
    """``out_sharding`` for merging the two leading axes of ``stacked``.

    Under an explicit-sharding mesh the microbatch axis (axis 0) is
    replicated and axis 1 carries the batch sharding, which the merged axis
    keeps; elsewhere no argument is needed.
    """
    sharding = jax.typeof(stacked).sharding
    if not sharding.mesh.are_all_axes_explicit:
        return {}
    spec = (
        jax.sharding.PartitionSpec(*sharding.spec[1:])
        if sharding.spec
        else (jax.sharding.PartitionSpec())
    )
    return {"out_sharding": jax.sharding.NamedSharding(sharding.mesh, spec)}


def _concat(num_microbatches: int) -> Accumulator:
    _check_count(num_microbatches)

    def init(shape):
        return jnp.broadcast_to(jnp.zeros_like(shape), (num_microbatches, *shape.shape))

    def finalize(stacked):
        # Microbatch i holds rows i, i + n, i + 2n, ... of the batch (see
        # reshape_batch_axis), so a column-major merge restores the order.
        return stacked.reshape(
            -1, *stacked.shape[2:], order="F", **_merged_sharding_kwargs(stacked)
        )

    return _leafwise(
        Accumulator(
            init=init,
            update=lambda stacked, value, index: stacked.at[index].set(value),
            finalize=finalize,
            aggregate=lambda values: values,
        )
    )


def _builtin(kind: Any, num_microbatches: int | None) -> Accumulator:
    if isinstance(kind, Accumulator):
        return kind
    if kind is AccumulationType.SUM:
        return _sum()
    if kind is AccumulationType.MEAN:
        return _mean(num_microbatches)
    if kind is AccumulationType.RUNNING_MEAN:
        return _running_mean()
    if kind is AccumulationType.CONCAT:
        return _concat(num_microbatches)
    raise ValueError(
        f"accumulator entries must be Accumulator or AccumulationType, got {kind!r}."
    )


def resolve_accumulator(spec: Any, num_microbatches: int | None) -> Accumulator:
    """One :class:`Accumulator` for a whole result tree.

    ``spec`` is an :class:`Accumulator`, an :class:`AccumulationType`, or a
    tree of them that is a prefix of the result tree: each entry governs the
    subtree of the result at its position.
    """
    parts = jax.tree.map(lambda kind: _builtin(kind, num_microbatches), spec)

    def over(method: str):
        def apply(tree, *rest):
            return jax.tree.map(
                lambda acc, sub: getattr(acc, method)(sub, *rest), parts, tree
            )

        return apply

    def update(carry, value, index):
        return jax.tree.map(
            lambda acc, c, v: acc.update(c, v, index), parts, carry, value
        )

    return Accumulator(
        init=over("init"),
        update=update,
        finalize=over("finalize"),
        aggregate=over("aggregate"),
    )
