"""Composable parameter predicates: ``fn(path, param) -> bool`` with ``& | ^ ~``.

A predicate decides, from a parameter's path and its array (only the shape
and dtype are looked at, so tracers and ``jax.ShapeDtypeStruct`` work too),
whether the parameter belongs to a set. Predicates combine with the boolean
operators and can be used wherever a function ``condition(path, param)`` is
expected, for example ``partition(condition=...)``, or turned into a mask or
label tree::

    muon = by_ndim(2) & ~by_path(r"(?i).*embedding.*")
    labels = muon.labels(params, "muon", "adamw")

The path may be a "/"-joined string, a JAX key path or a tuple of names; it
is normalised with :func:`tsx.masks.path_str` before matching.
"""


import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

import jax.numpy as jnp
import numpy as np

from tsx.masks._paths import flatten_with_paths, path_str, unflatten_like

__all__ = [
    "Predicate",
    "as_predicate",
    "by_dtype",
    "by_ndim",
    "by_path",
    "by_shape",
    "compile_pattern",
    "everything",
    "nothing",
]

PathLike = Any
PredicateFn = Callable[[PathLike, Any], bool]


def compile_pattern(pattern: str, syntax: str = "regex") -> Callable[[str], bool]:
    """A matcher for one path pattern.

    ``syntax="regex"``: the whole path must match (``re.fullmatch``), so
    ``r".*/bias"`` matches ``"Dense_0/bias"`` but ``"bias"`` does not.
    ``syntax="glob"``: shell-style, case-sensitive (``fnmatch.fnmatchcase``);
    ``*`` also matches ``/``, so ``"*/bias"`` matches at any depth.

    Args:
      pattern: the pattern.
      syntax: ``"regex"`` (default) or ``"glob"``.
    """
    if not isinstance(pattern, str):
        raise ValueError(f"pattern must be a string, got pattern={pattern!r}.")
    if syntax == "regex":
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"invalid regex pattern={pattern!r}: {err}.") from err
    elif syntax == "glob":
        regex = re.compile(fnmatch.translate(pattern))
    else:
        raise ValueError(f"syntax must be 'regex' or 'glob', got syntax={syntax!r}.")
    return lambda path: regex.fullmatch(path) is not None


def _shape(param: Any) -> tuple[int, ...]:
    shape = getattr(param, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(param))


def _dtype(param: Any) -> Any:
    dtype = getattr(param, "dtype", None)
    return dtype if dtype is not None else jnp.asarray(param).dtype


class Predicate:
    """A boolean function of ``(path, param)`` that composes with ``& | ^ ~``.

    ``Predicate(fn, description)`` wraps ``fn(path: str, param) -> bool``;
    calling the predicate normalises ``path`` to a "/"-joined string first.
    """

    __slots__ = ("_description", "_fn")

    def __init__(self, fn: Callable[[str, Any], bool], description: str) -> None:
        self._fn = fn
        self._description = description

    def __call__(self, path: PathLike, param: Any) -> bool:
        return bool(self._fn(path_str(path), param))

    def __and__(self, other: PredicateFn) -> "Predicate":
        o = as_predicate(other)
        return Predicate(
            lambda p, x: self._fn(p, x) and o._fn(p, x), f"({self!r} & {o!r})"
        )

    def __or__(self, other: PredicateFn) -> "Predicate":
        o = as_predicate(other)
        return Predicate(
            lambda p, x: self._fn(p, x) or o._fn(p, x), f"({self!r} | {o!r})"
        )

    def __xor__(self, other: PredicateFn) -> "Predicate":
        o = as_predicate(other)
        return Predicate(
            lambda p, x: bool(self._fn(p, x)) != bool(o._fn(p, x)),
            f"({self!r} ^ {o!r})",
        )

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self) -> "Predicate":
        return Predicate(lambda p, x: not self._fn(p, x), f"~{self!r}")

    def __repr__(self) -> str:
        return self._description

    def mask(self, params: Any) -> Any:
        """A tree of Python bools shaped like ``params``: the predicate per leaf."""
        pairs, treedef = flatten_with_paths(params)
        return unflatten_like(treedef, [bool(self._fn(p, x)) for p, x in pairs])

    def labels(self, params: Any, true_label: Any, false_label: Any) -> Any:
        """A label tree: ``true_label`` where the predicate holds, else ``false_label``.

        Ready for ``multi_transform(transforms, param_labels=...)``.
        """
        pairs, treedef = flatten_with_paths(params)
        return unflatten_like(
            treedef, [true_label if self._fn(p, x) else false_label for p, x in pairs]
        )

    def paths(self, params: Any) -> list[str]:
        """The "/"-joined paths of the parameters the predicate selects."""
        pairs, _ = flatten_with_paths(params)
        return [p for p, x in pairs if self._fn(p, x)]


def as_predicate(fn: PredicateFn | Predicate) -> Predicate:
    """Wrap a plain ``fn(path, param) -> bool`` (or return a Predicate unchanged).

    Args:
      fn: a function ``(path, param) -> bool`` (``path`` the "/"-joined
        string), or a :class:`Predicate`.
    """
    if isinstance(fn, Predicate):
        return fn
    if not callable(fn):
        raise ValueError(f"a predicate must be callable(path, param), got {fn!r}.")
    name = getattr(fn, "__name__", repr(fn))
    return Predicate(lambda p, x: fn(p, x), name)


def by_path(*patterns: str, syntax: str = "regex") -> Predicate:
    """True when the parameter's "/"-joined path matches any of ``patterns``.

    See :func:`compile_pattern` for the ``regex`` (full match) and ``glob``
    syntaxes; use ``(?i)`` for a case-insensitive regex.

    Args:
      *patterns: one or more path patterns.
      syntax: ``"regex"`` (default, full match) or ``"glob"``.
    """
    if not patterns:
        raise ValueError("by_path needs at least one pattern, got patterns=().")
    matchers = [compile_pattern(p, syntax) for p in patterns]
    shown = ", ".join(repr(p) for p in patterns)
    suffix = "" if syntax == "regex" else f", syntax={syntax!r}"
    return Predicate(
        lambda path, _: any(m(path) for m in matchers), f"by_path({shown}{suffix})"
    )


def by_ndim(
    *ndims: int, at_least: int | None = None, at_most: int | None = None
) -> Predicate:
    """True when ``param.ndim`` is one of ``ndims`` and within ``[at_least, at_most]``.

    ``by_ndim(2)`` selects matrices; ``by_ndim(at_least=2)`` every parameter
    with two or more axes.

    Args:
      *ndims: the accepted numbers of axes (none given: only the bounds
        apply; ndims or a bound is required).
      at_least: the smallest accepted number of axes, or None.
      at_most: the largest accepted number of axes, or None.

    Example:
      >>> import jax.numpy as jnp, tsx
      >>> matrices = tsx.masks.by_ndim(2) & ~tsx.masks.by_path(".*embedding")
      >>> matrices("Dense_0/kernel", jnp.ones((3, 4)))
      True
      >>> matrices("Embed_0/embedding", jnp.ones((10, 4)))
      False
    """
    if not ndims and at_least is None and at_most is None:
        raise ValueError("by_ndim needs ndims or at_least/at_most, got neither.")
    for n in ndims:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"ndims must be non-negative ints, got ndims={ndims!r}.")
    wanted = frozenset(ndims)

    def fn(_: str, param: Any) -> bool:
        n = len(_shape(param))
        if wanted and n not in wanted:
            return False
        if at_least is not None and n < at_least:
            return False
        return at_most is None or n <= at_most

    parts = [repr(n) for n in ndims]
    if at_least is not None:
        parts.append(f"at_least={at_least}")
    if at_most is not None:
        parts.append(f"at_most={at_most}")
    return Predicate(fn, f"by_ndim({', '.join(parts)})")


def by_shape(*shapes: Iterable[int | None]) -> Predicate:
    """True when ``param.shape`` matches any of ``shapes`` (``None`` is a wildcard).

    ``by_shape((None, 128))`` selects every matrix with 128 columns.
    """
    if not shapes:
        raise ValueError("by_shape needs at least one shape, got shapes=().")
    wanted = [tuple(s) for s in shapes]

    def matches(shape: tuple[int, ...], target: tuple[int | None, ...]) -> bool:
        return len(shape) == len(target) and all(
            t is None or t == s for s, t in zip(shape, target, strict=True)
        )

    shown = ", ".join(repr(s) for s in wanted)
    return Predicate(
        lambda _, x: any(matches(_shape(x), t) for t in wanted), f"by_shape({shown})"
    )


def by_dtype(*dtypes: Any) -> Predicate:
    """True when ``param.dtype`` is a sub-dtype of any of ``dtypes``.

    Abstract kinds work: ``by_dtype(jnp.floating)`` selects every float
    parameter, ``by_dtype(jnp.float32)`` only float32 ones.
    """
    if not dtypes:
        raise ValueError("by_dtype needs at least one dtype, got dtypes=().")
    shown = ", ".join(getattr(d, "__name__", str(d)) for d in dtypes)
    return Predicate(
        lambda _, x: any(jnp.issubdtype(_dtype(x), d) for d in dtypes),
        f"by_dtype({shown})",
    )


everything = Predicate(lambda _p, _x: True, "everything")
nothing = Predicate(lambda _p, _x: False, "nothing")
