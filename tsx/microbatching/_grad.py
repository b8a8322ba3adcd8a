"""Per-example gradients, transformed and accumulated in microbatches."""


import collections
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from tsx.microbatching._accumulators import AccumulationType, Accumulator
from tsx.microbatching._vmap import micro_vmap

__all__ = ["micro_grad"]

# Per-example side outputs of micro_grad: the loss values, the metrics and
# the function's own auxiliary output.
Aux = collections.namedtuple("Aux", ["values", "metrics", "aux"])


def micro_grad(
    fun: Callable[..., Any],
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., tuple[Any, Any]]:
    r"""Per-example gradients of ``fun``, transformed, then accumulated.

    For every example :math:`x_j` of the batch arguments the gradient
    :math:`g_j = \nabla_\theta f(\theta, x_j)` is computed on its own
    (``jax.vmap`` over examples, in microbatches of ``microbatch_size``), then

    .. math:: \text{result} = \operatorname{acc}_j\, T(g_j)

    with :math:`T` = ``transform_fn`` and acc the ``accumulator`` (SUM by
    default, MEAN for an average). This is the pattern of per-example
    clipping (DP-SGD, Abadi et al., 2016, https://arxiv.org/abs/1607.00133)
    and of per-example gradient statistics.

    The returned function gives ``(result, aux)`` where ``aux`` is a
    namedtuple ``Aux(values, metrics, aux)`` holding, per example, the value
    of ``fun``, ``metrics_fn(g_j)`` and ``fun``'s auxiliary output.

    Args:
      fun: ``fun(*args) -> loss`` (or ``(loss, aux)`` with ``has_aux``).
      has_aux: whether ``fun`` returns an auxiliary output.
      argnums: the argument(s) to differentiate.
      batch_argnums: the argument(s) with a batch axis 0 (default: the second,
        as in ``fun(params, batch)``).
      keep_batch_dim: give ``fun`` each example with a batch axis of size 1
        (``True``) or without a batch axis (``False``).
      microbatch_size: examples per microbatch (``None``: all at once).
      accumulator: how transformed gradients combine across examples.
      transform_fn: applied to each per-example gradient.
      metrics_fn: applied to each per-example gradient; returned per example.
      num_real_microbatches: stop after this many microbatches.

    Returns:
      A function with ``fun``'s arguments returning ``(result, aux)``.
    """
    batch_argnums = (
        (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
    )
    if has_aux:
        with_aux = fun
    else:

        def with_aux(*args, **kwargs):
            return fun(*args, **kwargs), None

    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args, **kwargs):
        (value, fun_aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), Aux(
            values=value, metrics=metrics_fn(grad), aux=fun_aux
        )

    in_axes = [None] * (max(batch_argnums) + 1)
    for i in batch_argnums:
        in_axes[i] = 0
    mapped = micro_vmap(
        per_example,
        in_axes=in_axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )
    if not keep_batch_dim:
        return mapped

    def with_unit_batch_axis(*args, **kwargs):
        # Mapping over axis 0 of a (B, 1, ...) array hands fun (1, ...) slices.
        expanded = list(args)
        for i in batch_argnums:
            expanded[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
        return mapped(*expanded, **kwargs)

    return with_unit_batch_axis
