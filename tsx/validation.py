"""Checks that turn bad input into clear errors at the point it is given.

Hyperparameters are checked when an optimizer is built, so that a typo fails
before any compilation; gradient trees are checked against the state they are
applied to, naming the first path where the two differ.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

__all__ = [
    "check_in_range",
    "check_non_negative",
    "check_positive",
    "check_schedule_or_non_negative",
    "check_same_structure",
    "describe_structure_mismatch",
    "param_shaped_subtrees",
]


def _concrete_scalar(value: Any) -> float | None:
    """``value`` as a Python float if it is a concrete real scalar, else None.

    Tracers, callables (schedules) and arrays with more than one element are
    left unchecked: they are only known at run time.
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001 - abstract or sharded-unreadable arrays
            return None
        if arr.size == 1 and np.issubdtype(arr.dtype, np.number):
            return float(arr.reshape(()))
    return None


def check_non_negative(name: str, value: Any) -> None:
    """Raise ``ValueError`` if ``value`` is a concrete number below zero (or NaN)."""
    v = _concrete_scalar(value)
    if v is not None and not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {name}={value!r}.")


def check_positive(name: str, value: Any) -> None:
    """Raise ``ValueError`` if ``value`` is a concrete number not above zero."""
    v = _concrete_scalar(value)
    if v is not None and not v > 0:
        raise ValueError(f"{name} must be > 0, got {name}={value!r}.")


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> None:
    """Raise ``ValueError`` if a concrete ``value`` lies outside the interval."""
    v = _concrete_scalar(value)
    if v is None:
        return
    ok_low = v >= low if low_inclusive else v > low
    ok_high = v <= high if high_inclusive else v < high
    if not (ok_low and ok_high):
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ValueError(
            f"{name} must be in {lb}{low}, {high}{hb}, got {name}={value!r}."
        )


def check_schedule_or_non_negative(name: str, value: Any) -> None:
    """Learning rates: a schedule (callable) passes; a number must be >= 0."""
    if callable(value):
        return
    check_non_negative(name, value)


def _path_str(path: tuple) -> str:
    return jax.tree_util.keystr(path) if path else "<root>"


def _leaf_paths(tree: Any) -> list[str]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]
    return [_path_str(path) for path, _ in flat]


def describe_structure_mismatch(tree: Any, reference: Any) -> str | None:
    """The first leaf path where ``tree`` and ``reference`` differ, or None.

    Trees are compared by their leaf paths (``None`` counts as a leaf, and a
    ``dict`` matches a ``FrozenDict`` with the same keys), walked in JAX's
    flattening order; the message names the first differing path.
    """
    a, b = _leaf_paths(tree), _leaf_paths(reference)
    if a == b:
        return None
    in_a, in_b = set(a), set(b)
    for pa, pb in zip(a, b, strict=False):
        if pa == pb:
            continue
        if pb not in in_a and pa not in in_b:
            return f"first differing path: the gradients have {pa} where expected {pb}"
        if pb not in in_a:
            return f"first differing path: the gradients lack the leaf at {pb}"
        if pa not in in_b:
            return f"first differing path: the gradients have an extra leaf at {pa}"
        return f"first differing path: the gradients have {pa} where expected {pb}"
    if len(a) > len(b):
        return f"first differing path: the gradients have an extra leaf at {a[len(b)]}"
    return f"first differing path: the gradients lack the leaf at {b[len(a)]}"


def param_shaped_subtrees(state: Any) -> list[Any]:
    """Containers inside an optimizer state that mirror the parameters.

    Walks NamedTuple fields, tuples and lists of states; returns the dict-like
    or list-like values found there (moments, traces, ...), in order.
    """
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            for value in node:
                walk(value)
        elif isinstance(node, (tuple, list)):
            for value in node:
                walk(value)
        elif node is not None and jax.tree.leaves(node) and not hasattr(node, "shape"):
            found.append(node)

    walk(state)
    return found


def check_same_structure(
    tree: Any,
    reference: Any,
    *,
    what: str = "updates",
    against: str = "the optimizer state",
) -> None:
    """Raise ``ValueError`` naming the first differing path if the trees differ.

    ``None`` leaves count as nodes, as in Optax, so a tree with ``None`` in the
    same places as the reference matches.
    """
    msg = describe_structure_mismatch(tree, reference)
    if msg is not None:
        raise ValueError(
            f"The structure of the {what} does not match {against}; {msg}."
        )
