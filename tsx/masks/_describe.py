"""A table of parameters with their labels and optimizer-state cost.

``describe(params, labels, tx)`` shows, before any training step, which
parameter gets which treatment and what the optimizer will allocate for it::

    print(describe(params, decay_mask(params), tx=tsx.adamw(1e-3)))

Optimizer-state bytes are found without allocating anything
(``jax.eval_shape(tx.init, params)``): a state leaf belongs to the parameter
whose path is the longest suffix of the leaf's path (Adam's ``mu`` for
``Dense_0/kernel`` lives at ``.../mu/Dense_0/kernel``); leaves that belong to
no parameter (step counts, injected hyperparameters) are reported as shared.
"""


import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from tsx.masks._paths import SEP, key_name
from tsx.masks._predicates import Predicate

__all__ = ["ParameterRow", "ParameterTable", "describe"]


@dataclasses.dataclass(frozen=True)
class ParameterRow:
    """One parameter: its path, shape, dtype, element count, label and state bytes."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    size: int
    label: Any
    opt_state_bytes: int | None


@dataclasses.dataclass(frozen=True)
class ParameterTable:
    """The rows of :func:`describe`; ``str(table)`` renders it for logs.

    Attributes:
      rows: one :class:`ParameterRow` per parameter leaf, in tree order.
      shared_state_bytes: optimizer-state bytes attributable to no single
        parameter (counters, hyperparameters); ``None`` without ``tx``.
    """

    rows: tuple[ParameterRow, ...]
    shared_state_bytes: int | None = None

    def __iter__(self) -> Iterator[ParameterRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> ParameterRow:
        return self.rows[index]

    def row(self, path: str) -> ParameterRow:
        """The row of the parameter at ``path`` ("/"-joined)."""
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(path)

    @property
    def total_size(self) -> int:
        return sum(r.size for r in self.rows)

    @property
    def total_state_bytes(self) -> int | None:
        """All optimizer-state bytes (per-parameter plus shared); None without tx."""
        if self.shared_state_bytes is None:
            return None
        return self.shared_state_bytes + sum(r.opt_state_bytes or 0 for r in self.rows)

    def by_label(self) -> dict[Any, dict[str, int]]:
        """``{label: {"count", "size", "opt_state_bytes"}}`` summed per label."""
        out: dict[Any, dict[str, int]] = {}
        for r in self.rows:
            d = out.setdefault(r.label, {"count": 0, "size": 0, "opt_state_bytes": 0})
            d["count"] += 1
            d["size"] += r.size
            d["opt_state_bytes"] += r.opt_state_bytes or 0
        return out

    def to_string(self) -> str:
        """The table as aligned text, with totals and a per-label summary."""
        with_state = self.shared_state_bytes is not None
        header = ["path", "shape", "dtype", "size", "label"]
        if with_state:
            header.append("opt_state_bytes")
        body = []
        for r in self.rows:
            label = "" if r.label is None else str(r.label)
            line = [r.path, str(r.shape), r.dtype, f"{r.size:,}", label]
            if with_state:
                line.append(f"{r.opt_state_bytes or 0:,}")
            body.append(line)
        total = ["total", "", "", f"{self.total_size:,}", ""]
        if with_state:
            total.append(f"{self.total_state_bytes:,}")
        lines = [header, *body, total]
        widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
        numeric = {3, 5}

        def fmt(row: list[str]) -> str:
            cells = [
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            return "  ".join(cells).rstrip()

        rule = "-" * len(fmt(header))
        out = [fmt(header), rule, *(fmt(r) for r in body), rule, fmt(total)]
        if with_state:
            out.append(
                f"shared optimizer state (counters etc.): "
                f"{self.shared_state_bytes:,} bytes"
            )
        labelled = any(r.label is not None for r in self.rows)
        for label, d in self.by_label().items() if labelled else ():
            text = f"label {label}: {d['count']} params, {d['size']:,} elements"
            if with_state:
                text += f", {d['opt_state_bytes']:,} state bytes"
            out.append(text)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_string()


def _nbytes(leaf: Any) -> int:
    shape = tuple(getattr(leaf, "shape", np.shape(leaf)))
    dtype = np.dtype(getattr(leaf, "dtype", None) or np.asarray(leaf).dtype)
    return math.prod(shape) * dtype.itemsize


def _labels_per_leaf(params: Any, labels_or_mask: Any, n: int) -> list[Any]:
    if labels_or_mask is None:
        return [None] * n
    if isinstance(labels_or_mask, Predicate):
        labels_or_mask = labels_or_mask.mask(params)
    elif callable(labels_or_mask):
        labels_or_mask = labels_or_mask(params)
    # A label tree may be a prefix of the params (one label for a subtree).
    full = jax.tree.map(
        lambda label, sub: jax.tree.map(lambda _: label, sub), labels_or_mask, params
    )
    leaves = jax.tree.leaves(full)
    if len(leaves) != n:
        raise ValueError(
            f"describe: labels_or_mask has {len(leaves)} leaves for {n} parameters."
        )
    return leaves


def describe(
    params: Any,
    labels_or_mask: Any = None,
    tx: Any = None,
) -> ParameterTable:
    """Tabulate ``params``: path, shape, dtype, size, label, optimizer-state bytes.

    Args:
      params: a parameter pytree (arrays or ``jax.ShapeDtypeStruct`` s).
      labels_or_mask: a label tree (strings), a boolean mask, a prefix of
        either, a function ``params -> tree`` or a :class:`Predicate`; None
        leaves the label column empty.
      tx: optional transformation; its state is shape-evaluated (nothing is
        allocated) and each state leaf's bytes are charged to the parameter
        whose path is the longest suffix of the leaf's path.

    Returns:
      A :class:`ParameterTable`; ``str(table)`` is the text form.

    Example:
      >>> import jax.numpy as jnp, tsx
      >>> params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
      ...           "LayerNorm_0": {"scale": jnp.ones(4)}}
      >>> print(tsx.masks.describe(params, tsx.masks.decay_mask, tx=tsx.adamw(1e-3)))
      path               shape   dtype    size  label  opt_state_bytes
      ----------------------------------------------------------------
      Dense_0/bias       (4,)    float32     4  False               32
      Dense_0/kernel     (3, 4)  float32    12  True                96
      LayerNorm_0/scale  (4,)    float32     4  False               32
      ----------------------------------------------------------------
      total                                 20                     164
      shared optimizer state (counters etc.): 4 bytes
      label False: 2 params, 8 elements, 64 state bytes
      label True: 1 params, 12 elements, 96 state bytes
    """
    pairs, _ = jax.tree_util.tree_flatten_with_path(params)
    names = [tuple(key_name(k) for k in path) for path, _ in pairs]
    labels = _labels_per_leaf(params, labels_or_mask, len(pairs))

    state_bytes: list[int] | None = None
    shared: int | None = None
    if tx is not None:
        state_bytes = [0] * len(pairs)
        shared = 0
        index = {name: i for i, name in enumerate(names)}
        state = jax.eval_shape(tx.init, params)
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
            key = tuple(key_name(k) for k in path)
            owner = None
            for start in range(len(key)):
                owner = index.get(key[start:])
                if owner is not None:
                    break
            if owner is None and () in index and len(key) > 0:
                # A bare-array params tree: state leaves of its shape are its.
                root_shape = tuple(np.shape(pairs[index[()]][1]))
                if tuple(getattr(leaf, "shape", ())) == root_shape:
                    owner = index[()]
            if owner is None:
                shared += _nbytes(leaf)
            else:
                state_bytes[owner] += _nbytes(leaf)

    rows = []
    for i, ((_, leaf), name) in enumerate(zip(pairs, names, strict=True)):
        shape = tuple(getattr(leaf, "shape", np.shape(leaf)))
        dtype = np.dtype(getattr(leaf, "dtype", None) or np.asarray(leaf).dtype)
        rows.append(
            ParameterRow(
                path=SEP.join(name),
                shape=shape,
                dtype=str(dtype),
                size=math.prod(shape),
                label=labels[i],
                opt_state_bytes=None if state_bytes is None else state_bytes[i],
            )
        )
    return ParameterTable(rows=tuple(rows), shared_state_bytes=shared)
