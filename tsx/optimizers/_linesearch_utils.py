"""Helpers shared by the line searches: reusing the value and gradient they
computed, and routing extra keyword arguments to the objective."""


import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tsx._base import OptState, Params, Updates

__all__ = ["value_and_grad_from_state"]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _find_all(tree: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` in a state: NamedTuple fields, dict
    keys, or NamedTuples whose class is called ``key`` (searched recursively,
    also inside the matches)."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if _is_namedtuple(node):
            if type(node).__name__ == key:
                found.append(node)
            for name, child in zip(node._fields, node, strict=True):
                if name == key:
                    found.append(child)
                walk(child)
        elif isinstance(node, dict) or hasattr(node, "items") and hasattr(node, "keys"):
            for name, child in node.items():
                if name == key:
                    found.append(child)
                walk(child)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)

    walk(tree)
    return found


def _find_unique(state: Any, key: str) -> Any:
    found = _find_all(state, key)
    if len(found) > 1:
        raise KeyError(
            f"Found {len(found)} entries named {key!r} in the optimizer state; "
            "value_and_grad_from_state needs exactly one (use a single line search)."
        )
    return found[0] if found else None


def value_and_grad_from_state(
    value_fn: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., tuple[jax.typing.ArrayLike, Updates]]:
    """Like :func:`jax.value_and_grad`, but reuse what a line search stored.

    A line search (:func:`~tsx.scale_by_zoom_linesearch`, or
    :func:`~tsx.scale_by_backtracking_linesearch` with ``store_grad=True``)
    evaluates the objective and its gradient at the point it accepts, which is
    the next iterate. The returned function
    ``value_and_grad(params, *args, state=opt_state, **kwargs)`` returns the
    ``value`` and ``grad`` found in ``opt_state`` when the stored value is
    finite, and otherwise (first step: the value starts at ``inf``) calls
    ``jax.value_and_grad(value_fn)(params, *args, **kwargs)``. Only for
    deterministic objectives: the stored pair belongs to the previous batch.

    Raises:
      ValueError: if the state holds no ``value`` or no ``grad``.
      KeyError: if it holds several.

    Args:
      value_fn: the objective ``value_fn(params, *args, **kwargs) -> scalar``.
    """

    def _value_and_grad(
        params: Params, *fn_args: Any, state: OptState, **fn_kwargs: Any
    ) -> tuple[jax.typing.ArrayLike, Updates]:
        value = _find_unique(state, "value")
        grad = _find_unique(state, "grad")
        if value is None or grad is None:
            raise ValueError(
                "No value or no gradient found in the optimizer state: chain a "
                "line search that stores them (scale_by_zoom_linesearch, or "
                "scale_by_backtracking_linesearch(store_grad=True))."
            )
        return jax.lax.cond(
            jnp.isfinite(value),
            lambda *_: (value, grad),
            lambda p, a, kw: jax.value_and_grad(value_fn)(p, *a, **kw),
            params,
            fn_args,
            fn_kwargs,
        )

    return _value_and_grad


def split_fn_kwargs(
    value_fn: Callable[..., Any], extra_args: dict[str, Any], caller: str
) -> dict[str, Any]:
    """The entries of ``extra_args`` named like parameters of ``value_fn``.

    Raises ``TypeError`` listing any other keys, which the objective would
    silently never see.
    """
    names = list(inspect.signature(value_fn).parameters)
    fn_kwargs = {k: v for k, v in extra_args.items() if k in names}
    unused = sorted(k for k in extra_args if k not in names)
    if unused:
        raise TypeError(
            f"Unexpected keyword arguments passed to `{caller}.update`: {unused} "
            f"are not parameters of value_fn (which takes {names})."
        )
    return fn_kwargs


def val_dtype(params: Params) -> jnp.dtype:
    """The real dtype matching the first leaf of ``params`` (for values)."""
    first = jax.tree.leaves(params)[0]
    return jnp.real(jnp.empty((), jnp.asarray(first).dtype)).dtype


def strong_scalar(value: float | int) -> jax.Array:
    """``value`` as a scalar of JAX's default dtype for its kind, not weakly typed.

    Optax builds some state fields with ``jnp.asarray(0)`` (weakly typed); the
    state an update returns is strongly typed, so a jitted step would trace
    twice. Same dtype, no retrace.
    """
    return jnp.asarray(value, dtype=jnp.asarray(value).dtype)
