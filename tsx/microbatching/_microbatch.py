"""Evaluating a function on a batch one microbatch at a time."""


import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from tsx.microbatching._accumulators import (
    AccumulationType,
    Accumulator,
    resolve_accumulator,
)
from tsx.microbatching._reshape import reshape_batch_axis
from tsx.validation import (
    POSITIVE_INT,
    hyperparameters,
    optional,
)

__all__ = ["microbatch"]


def _as_tuple(x: Any) -> tuple:
    return (x,) if isinstance(x, (int, str)) else tuple(x)


def _split_batches(
    microbatch_size: int,
    argnums: tuple[int, ...],
    argnames: tuple[str, ...],
    in_axes: tuple[int, ...],
    args: tuple,
    kwargs: dict,
) -> tuple[tuple, dict, int]:
    """Check the batch arguments agree and split their batch axes."""
    batched = [args[i] for i in argnums] + [kwargs[k] for k in argnames]
    sizes = [
        leaf.shape[axis]
        for axis, arg in zip(in_axes, batched, strict=True)
        for leaf in jax.tree.leaves(arg)
    ]
    if not sizes:
        raise ValueError(
            "microbatch needs at least one array among the batch arguments "
            f"(argnums={argnums}, argnames={argnames})."
        )
    if len(set(sizes)) > 1:
        raise ValueError(
            f"Batch arguments must have equal-size batch axes, found {sizes}."
        )
    batch_size = sizes[0]
    if batch_size % microbatch_size != 0:
        raise ValueError(
            f"batch_size={batch_size} must be divisible by "
            f"microbatch_size={microbatch_size}."
        )
    new_args, new_kwargs = list(args), dict(kwargs)
    for i, axis in zip(argnums, in_axes, strict=False):
        new_args[i] = reshape_batch_axis(args[i], microbatch_size, axis)
    for k, axis in zip(argnames, in_axes[len(argnums) :], strict=True):
        new_kwargs[k] = reshape_batch_axis(kwargs[k], microbatch_size, axis)
    return tuple(new_args), new_kwargs, batch_size


@hyperparameters(
    microbatch_size=optional(POSITIVE_INT),
)
def microbatch(
    fun: Callable[..., Any],
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., Any]:
    r"""Evaluate ``fun`` on a batch in sequential microbatches and combine.

    The batch arguments (positions ``argnums`` and keywords ``argnames``, with
    batch axes ``in_axes``) are split into ``n = batch_size /
    microbatch_size`` microbatches; ``fun`` runs on each in turn inside a
    ``jax.lax.fori_loop`` and the results are folded by ``accumulator``:

    .. math:: \text{SUM: } \sum_i f(x_i), \quad
              \text{MEAN: } \tfrac1n \sum_i f(x_i), \quad
              \text{CONCAT: } [f(x_0); \dots; f(x_{n-1})].

    Only one microbatch's intermediate values are live at a time, which
    bounds peak memory (gradient accumulation is the usual use). Microbatch
    ``i`` holds batch rows ``i, i + n, ...`` (see :func:`reshape_batch_axis`);
    CONCAT puts the rows back in their original order.

    Args:
      fun: the function to evaluate.
      argnums: positions of the arguments that have a batch axis.
      microbatch_size: rows per microbatch; must divide the batch size.
        ``None`` returns ``fun`` unchanged.
      accumulator: an :class:`Accumulator`, an :class:`AccumulationType` or a
        tree of them that is a prefix of ``fun``'s output tree.
      argnames: names of keyword arguments that have a batch axis.
      in_axes: the batch axis of each of ``argnums + argnames`` (one int for
        all).
      num_real_microbatches: stop after this many microbatches (may be a
        traced value, so variable batch sizes do not recompile).

    Returns:
      A function with ``fun``'s arguments returning the combined result.

    Raises:
      ValueError: if ``microbatch_size`` is not positive, ``in_axes`` does not
        match the batch arguments, or (when called) the batch sizes differ or
        are not divisible by ``microbatch_size``.
    """
    if microbatch_size is None:
        return fun
    argnums = _as_tuple(argnums)
    argnames = _as_tuple(argnames)
    n_batched = len(argnums) + len(argnames)
    in_axes = (in_axes,) * n_batched if isinstance(in_axes, int) else tuple(in_axes)
    if len(in_axes) != n_batched:
        raise ValueError(
            f"in_axes must give one axis per batch argument ({n_batched}), got "
            f"in_axes={in_axes}."
        )
    positional_axes = in_axes[: len(argnums)]
    keyword_axes = in_axes[len(argnums) :]

    @functools.wraps(fun)
    def microbatched(*args, **kwargs):
        split_args, split_kwargs, batch_size = _split_batches(
            microbatch_size, argnums, argnames, in_axes, args, kwargs
        )
        num_microbatches = batch_size // microbatch_size
        acc = resolve_accumulator(accumulator, num_microbatches)

        def take(tree, axis, index):
            return jax.tree.map(lambda x: jnp.take(x, index, axis=axis), tree)

        def on_microbatch(index):
            call_args, call_kwargs = list(split_args), dict(split_kwargs)
            for i, axis in zip(argnums, positional_axes, strict=True):
                call_args[i] = take(split_args[i], axis, index)
            for k, axis in zip(argnames, keyword_axes, strict=True):
                call_kwargs[k] = take(split_kwargs[k], axis, index)
            return fun(*call_args, **call_kwargs)

        carry = acc.init(jax.eval_shape(on_microbatch, 0))
        steps = (
            num_microbatches if num_real_microbatches is None else num_real_microbatches
        )
        carry = jax.lax.fori_loop(
            0,
            steps,
            lambda index, carry: acc.update(carry, on_microbatch(index), index),
            carry,
        )
        return acc.finalize(carry)

    return microbatched
