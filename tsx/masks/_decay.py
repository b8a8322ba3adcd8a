"""Which parameters get weight decay: all but biases, norm parameters, embeddings.

Decoupled weight decay (Loshchilov & Hutter, 2019, "Decoupled Weight Decay
Regularization") adds ``-lr * wd * p`` to each update. Decaying biases,
normalisation scales/offsets and embedding tables is usually harmful (they
are not "weights" whose norm should shrink), so the standard recipe masks
them out. In every Linen model those parameters have fixed leaf names:

============================  =========================
module                        parameter leaves
============================  =========================
``Dense``, ``Conv``, ...      ``kernel`` (decayed), ``bias``
``LayerNorm``, ``BatchNorm``  ``scale``, ``bias``
``GroupNorm``, ``RMSNorm``    ``scale`` (, ``bias``)
``Embed``                     ``embedding``
============================  =========================

plus ``offset`` (the name Haiku-style norms use for the shift).
"""


from collections.abc import Callable, Iterable
from typing import Any

from tsx.masks._paths import flatten_with_paths, unflatten_like
from tsx.masks._predicates import Predicate, by_path

__all__ = ["DEFAULT_NO_DECAY", "decay_mask"]

# Regexes on the "/"-joined path: the leaf names above, at any depth.
DEFAULT_NO_DECAY: tuple[str, ...] = (
    r"(.*/)?bias",
    r"(.*/)?scale",
    r"(.*/)?offset",
    r"(.*/)?embedding",
)


def decay_mask(
    params: Any,
    exclude: Iterable[str] | Predicate | Callable[[str, Any], bool] = DEFAULT_NO_DECAY,
    *,
    syntax: str = "regex",
) -> Any:
    """A boolean tree, True where weight decay applies.

    ``mask(p) = not any(match(e, path(p)) for e in exclude)``

    With the default ``exclude`` every ``bias``, norm ``scale``/``offset``
    and ``embedding`` leaf is False and every other leaf (``kernel`` s) is
    True. Pass it where Optax takes a mask, e.g.
    ``tsx.adamw(1e-3, weight_decay=1e-4, mask=tsx.masks.decay_mask)``, or
    extend the default:
    ``decay_mask(params, exclude=(*DEFAULT_NO_DECAY, r".*/pos_embedding"))``.

    Args:
      params: a parameter pytree (``dict``, ``FrozenDict``, ...); the mask
        has the same structure and container types.
      exclude: patterns (regex on the "/"-joined path, full match; or globs
        with ``syntax="glob"``) or a predicate ``fn(path, param) -> bool``
        for the parameters that must NOT be decayed.
      syntax: ``"regex"`` or ``"glob"`` for string patterns.

    Example:
      >>> import jax.numpy as jnp, tsx
      >>> params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
      ...           "LayerNorm_0": {"scale": jnp.ones(4)}}
      >>> tsx.masks.decay_mask(params)
      {'Dense_0': {'bias': False, 'kernel': True}, 'LayerNorm_0': {'scale': False}}
    """
    if isinstance(exclude, str):
        exclude = (exclude,)
    if isinstance(exclude, Predicate) or callable(exclude):
        excluded = exclude
    else:
        patterns = tuple(exclude)
        excluded = by_path(*patterns, syntax=syntax) if patterns else None
    pairs, treedef = flatten_with_paths(params)
    flags = [
        not (excluded is not None and bool(excluded(path, leaf)))
        for path, leaf in pairs
    ]
    return unflatten_like(treedef, flags)
