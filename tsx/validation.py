"""Checks that turn bad input into clear errors at the point it is given.

**Hyperparameters** are declared once, next to the function that takes them,
with :func:`hyperparameters` and the kinds below, and checked when the
optimizer (transformation, schedule) is built, before anything is compiled::

    @hyperparameters(learning_rate=LEARNING_RATE, b1=DECAY, eps=NON_NEGATIVE)
    def my_adam(learning_rate, b1=0.9, eps=1e-8): ...

    my_adam(1e-3, b1=1.5)
    # ValueError: my_adam: b1 must be a finite float in [0, 1), got b1=1.5.

A wrong type raises ``TypeError`` and a wrong value ``ValueError``; both name
the function, the argument and the value. Values only known at run time
(tracers inside ``jit``/``vmap``, schedules) pass the build-time check.

**Trees** of updates are checked against the parameters or state they are
applied to, naming the first path where structure, shape or dtype differ.
"""


import contextlib
import contextvars
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BOOL",
    "DECAY",
    "DTYPE",
    "FUNCTION",
    "LEARNING_RATE",
    "MASK",
    "NON_NEGATIVE",
    "OPTIONAL_LEARNING_RATE",
    "POSITIVE",
    "POSITIVE_INT",
    "PROBABILITY",
    "STEPS",
    "TRANSFORMATION",
    "Kind",
    "any_of",
    "boolean",
    "check",
    "check_in_range",
    "check_non_negative",
    "check_positive",
    "check_same_structure",
    "check_schedule_or_non_negative",
    "check_transformation",
    "check_updates_like",
    "choice",
    "describe_prefix_mismatch",
    "describe_structure_mismatch",
    "dtype",
    "function",
    "hyperparameters",
    "integer",
    "is_transformation",
    "mask",
    "optional",
    "param_shaped_subtrees",
    "prng_key",
    "real",
    "require_params",
    "schedule_or",
    "sequence_of",
    "string",
    "transformation",
    "tree_of",
    "updates_already_checked",
    "updates_checked",
]


# -- Kinds ----------------------------------------------------------------------


class Kind:
    """What a hyperparameter may be: a description and a check.

    ``problem(value)`` returns None when ``value`` is acceptable, else the
    exception class to raise (``TypeError`` for a wrong type, ``ValueError``
    for a wrong value). ``describe()`` completes "must be ...".
    """

    def __init__(
        self,
        description: str,
        problem: Callable[[Any], type[Exception] | None],
        explain: Callable[[Any], str | None] | None = None,
    ) -> None:
        self._description = description
        self._problem = problem
        self._explain = explain

    def describe(self) -> str:
        return self._description

    def problem(self, value: Any) -> type[Exception] | None:
        return self._problem(value)

    def explain(self, value: Any) -> str | None:
        """What is wrong with a refused ``value`` beyond ``describe()`` (or None)."""
        return None if self._explain is None else self._explain(value)

    def __repr__(self) -> str:
        return f"Kind({self._description!r})"


def _is_tracer(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def _numeric_array(value: Any) -> np.ndarray | None:
    """A concrete real numeric value as a NumPy array, else None."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Real):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray | np.generic | jax.Array):
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001 - abstract or non-addressable arrays
            return None
        if jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(
            arr.dtype, jnp.floating
        ):
            return arr.astype(np.float64)
    return None


def _interval(low: float | None, high: float | None, lo_open: bool, hi_open: bool):
    lb = "(" if lo_open or low is None else "["
    hb = ")" if hi_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{lb}{lo}, {hi}{hb}"


def real(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> Kind:
    """A real number (or array of them) in an interval; finite unless ``allow_inf``.

    Python and NumPy numbers and concrete JAX arrays are checked element by
    element; tracers pass. Booleans, strings, lists and ``None`` are a
    ``TypeError``.
    """
    if low is None and high is None:
        where = "" if allow_inf else "finite "
        description = f"a {where}float"
    else:
        where = "" if allow_inf else "finite "
        description = f"a {where}float in {_interval(low, high, low_open, high_open)}"

    def problem(value: Any) -> type[Exception] | None:
        if _is_tracer(value):
            return None if jnp.issubdtype(value.dtype, jnp.number) else TypeError
        arr = _numeric_array(value)
        if arr is None:
            return TypeError
        if np.isnan(arr).any():
            return ValueError
        if not allow_inf and not np.isfinite(arr).all():
            return ValueError
        if low is not None and ((arr <= low) if low_open else (arr < low)).any():
            return ValueError
        if high is not None and ((arr >= high) if high_open else (arr > high)).any():
            return ValueError
        return None

    return Kind(description, problem)


def integer(
    low: int | None = None, high: int | None = None, *, whole_floats: bool = False
) -> Kind:
    """A Python or NumPy integer (not a bool) in ``[low, high]``.

    With ``whole_floats``, floats with an integral value (``1000.0``, as a
    config file may give a step count) pass too.
    """
    if low is not None and high is None:
        description = f"an int >= {low}"
    elif low is None and high is None:
        description = "an int"
    else:
        description = f"an int in {_interval(low, high, False, False)}"

    def problem(value: Any) -> type[Exception] | None:
        if _is_tracer(value):
            return None if jnp.issubdtype(value.dtype, jnp.integer) else TypeError
        if isinstance(value, bool | np.bool_):
            return TypeError
        if isinstance(value, np.ndarray | jax.Array) and value.ndim == 0:
            if not np.issubdtype(value.dtype, np.integer):
                return TypeError
            value = int(value)
        if (
            whole_floats
            and isinstance(value, numbers.Real)
            and not isinstance(value, numbers.Integral)
        ):
            if not math.isfinite(value) or value != int(value):
                return ValueError if math.isfinite(value) else TypeError
            value = int(value)
        if not isinstance(value, numbers.Integral):
            return TypeError
        if low is not None and value < low:
            return ValueError
        if high is not None and value > high:
            return ValueError
        return None

    return Kind(description, problem)


def boolean() -> Kind:
    """``True`` or ``False``."""
    return Kind(
        "True or False",
        lambda v: None if isinstance(v, bool | np.bool_) else TypeError,
    )


def choice(*options: Any) -> Kind:
    """One of ``options`` (compared with ``==``)."""
    description = "one of " + ", ".join(repr(o) for o in options)

    def problem(value: Any) -> type[Exception] | None:
        try:
            return None if any(value == o for o in options) else ValueError
        except Exception:  # noqa: BLE001 - arrays compare elementwise
            return TypeError

    return Kind(description, problem)


def dtype() -> Kind:
    """Anything ``jnp.dtype`` accepts (``jnp.float32``, ``"bfloat16"``)."""

    def problem(value: Any) -> type[Exception] | None:
        if isinstance(value, bool) or isinstance(value, numbers.Number):
            return TypeError
        try:
            jnp.dtype(value)
        except TypeError:
            return TypeError if not isinstance(value, str) else ValueError
        return None

    return Kind("a dtype such as jnp.float32", problem)


def string() -> Kind:
    """A ``str``."""
    return Kind("a string", lambda v: None if isinstance(v, str) else TypeError)


def function() -> Kind:
    """A callable."""
    return Kind("a function", lambda v: None if callable(v) else TypeError)


def is_transformation(value: Any) -> bool:
    """Whether ``value`` has callable ``init`` and ``update`` (tsx's or Optax's)."""
    return callable(getattr(value, "init", None)) and callable(
        getattr(value, "update", None)
    )


def transformation() -> Kind:
    """A gradient transformation: an object with callable ``init`` and ``update``."""
    return Kind(
        "a gradient transformation (an object with init and update)",
        lambda v: None if is_transformation(v) else TypeError,
    )


def _is_mask_leaf(x: Any) -> bool:
    if isinstance(x, bool | np.bool_):
        return True
    if isinstance(x, np.ndarray | jax.Array) and x.dtype == bool:
        return True
    return type(x).__name__ == "MaskedNode"


def mask() -> Kind:
    """A tree of booleans, or a function ``params -> tree of booleans``."""

    def problem(value: Any) -> type[Exception] | None:
        if callable(value):
            return None
        leaves = jax.tree.leaves(value, is_leaf=lambda x: x is None)
        ok = all(x is None or _is_mask_leaf(x) or _is_tracer(x) for x in leaves)
        return None if ok else TypeError

    return Kind("a tree of booleans or a function params -> such a tree", problem)


def prng_key() -> Kind:
    """A JAX random key, or an int seed."""

    def problem(value: Any) -> type[Exception] | None:
        if isinstance(value, bool | np.bool_):
            return TypeError
        if isinstance(value, numbers.Integral):
            return None
        if isinstance(value, jax.Array) or _is_tracer(value):
            return None
        return TypeError

    return Kind("a jax.random key or an int seed", problem)


def tree_of(cls: type) -> Kind:
    """One ``cls``, a tree with ``cls`` leaves (``None`` where skipped), or a function.

    For per-parameter settings such as dimension numbers, which are
    NamedTuples and so would otherwise be walked into.
    """

    def is_leaf(x: Any) -> bool:
        return x is None or isinstance(x, cls) or type(x).__name__ == "MaskedNode"

    def problem(value: Any) -> type[Exception] | None:
        if callable(value) and not isinstance(value, cls):
            return None
        leaves = jax.tree.leaves(value, is_leaf=is_leaf)
        return None if all(is_leaf(x) for x in leaves) else TypeError

    return Kind(
        f"a {cls.__name__}, a tree of them (None where skipped) or a function "
        "params -> such a tree",
        problem,
    )


def optional(kind: Kind) -> Kind:
    """``None`` or ``kind``."""
    return Kind(
        f"None or {kind.describe()}",
        lambda v: None if v is None else kind.problem(v),
        lambda v: None if v is None else kind.explain(v),
    )


def _schedule_values(schedule: Callable[[Any], Any]) -> list[tuple[int, Any]]:
    """``[(step, value)]`` at step 0 and at the schedule's ``boundary_steps``
    (which tsx's schedules carry); empty if it cannot run outside ``jit``.

    Only these steps: a schedule may leave its range after the steps it is
    meant for (``lambda c: 0.99 - 0.01 * c`` for 50 steps).
    """
    steps = sorted({0, *(int(b) for b in getattr(schedule, "boundary_steps", ()))})
    out = []
    try:
        with jax.ensure_compile_time_eval():
            for step in steps:
                out.append((step, np.asarray(schedule(jnp.asarray(step, jnp.int32)))))
    except Exception:  # noqa: BLE001 - left to be found when the step runs
        return []
    return out


def _first_bad_value(schedule: Any, kind: Kind) -> tuple[int, Any, type] | None:
    for step, value in _schedule_values(schedule):
        error = kind.problem(value)
        if error is not None:
            return step, value, error
    return None


def schedule_or(kind: Kind) -> Kind:
    """A schedule (a function of the step count) whose values are ``kind``, or ``kind``.

    A schedule is evaluated, once, when the optimizer is built: at step 0 and
    at its boundary steps (``schedule.boundary_steps``, which tsx's schedules
    carry: where pieces join, where a decay ends). A value that ``kind``
    refuses there (a negative learning rate, NaN) is a ``ValueError`` naming
    the step; a schedule that cannot run outside ``jit`` is not checked.
    """

    def problem(value: Any) -> type[Exception] | None:
        if not callable(value):
            return kind.problem(value)
        bad = _first_bad_value(value, kind)
        return None if bad is None else ValueError

    def explain(value: Any) -> str | None:
        bad = _first_bad_value(value, kind) if callable(value) else None
        if bad is None:
            return None
        step, found, _ = bad
        shown = np.array2string(np.asarray(found), threshold=4)
        return (
            f"the schedule returns {shown} at step {step}, where its values must "
            f"be {kind.describe()}"
        )

    return Kind(
        f"a schedule (a function of the step) or {kind.describe()}", problem, explain
    )


def any_of(*kinds: Kind) -> Kind:
    """A value acceptable to at least one of ``kinds``."""

    def problem(value: Any) -> type[Exception] | None:
        found = [k.problem(value) for k in kinds]
        if any(p is None for p in found):
            return None
        return ValueError if ValueError in found else TypeError

    return Kind(" or ".join(k.describe() for k in kinds), problem)


def sequence_of(kind: Kind, length: int | None = None) -> Kind:
    """A tuple or list of values of ``kind`` (of ``length`` items, if given)."""
    size = "" if length is None else f"{length} "
    description = f"a tuple of {size}values, each {kind.describe()}"

    def problem(value: Any) -> type[Exception] | None:
        if not isinstance(value, tuple | list):
            return TypeError
        if length is not None and len(value) != length:
            return ValueError
        found = [kind.problem(v) for v in value]
        if TypeError in found:
            return TypeError
        return ValueError if ValueError in found else None

    return Kind(description, problem)


# The shared vocabulary: most hyperparameters are one of these.
BOOL = boolean()
DTYPE = optional(dtype())
FUNCTION = function()
MASK = optional(mask())
TRANSFORMATION = transformation()
NON_NEGATIVE = real(0.0)
POSITIVE = real(0.0, low_open=True)
POSITIVE_INT = integer(1)
PROBABILITY = real(0.0, 1.0)
# A decay rate (momentum, b1, b2, ...): 1 would never forget, so it is refused.
DECAY = real(0.0, 1.0, high_open=True)
LEARNING_RATE = schedule_or(NON_NEGATIVE)
# A number of steps; 1000.0 from a config file is accepted as 1000.
STEPS = integer(0, whole_floats=True)
OPTIONAL_LEARNING_RATE = optional(LEARNING_RATE)


def _fail(
    who: str | None, name: str, value: Any, kind: Kind, error: type[Exception]
) -> NoReturn:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    suffix = "" if error is ValueError else f" ({type(value).__name__})"
    prefix = f"{who}: " if who else ""
    why = kind.explain(value)
    why = "" if why is None else f"; {why}"
    raise error(
        f"{prefix}{name} must be {kind.describe()}, got {name}={shown}{suffix}{why}."
    )


def check(who: str | None, name: str, value: Any, kind: Kind) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is of ``kind``."""
    error = kind.problem(value)
    if error is not None:
        _fail(who, name, value, kind, error)


def hyperparameters(**kinds: Kind) -> Callable[[Callable], Callable]:
    """Declare the kinds of a factory's arguments; check them on every call.

    The decorated function checks its bound arguments (defaults included)
    before running, and keeps the declaration in ``__hyperparameters__``
    (``{name: Kind}``), which the catalog-wide tests read.

    Args:
      **kinds: argument name -> :class:`Kind`. Every name must be a parameter
        of the decorated function.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        unknown = sorted(set(kinds) - set(sig.parameters))
        if unknown:
            raise TypeError(
                f"hyperparameters() for {fn.__qualname__} names {unknown}, which "
                f"are not its parameters."
            )
        # A class's __init__ reports the class name (``MultiSteps``).
        who = (
            fn.__qualname__.rsplit(".", 2)[-2]
            if fn.__name__ == "__init__"
            else fn.__name__
        )

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as error:  # missing or unexpected arguments
                raise TypeError(f"{who}: {error}.") from None
            bound.apply_defaults()
            for name, kind in kinds.items():
                check(who, name, bound.arguments[name], kind)
            return fn(*args, **kwargs)

        checked.__hyperparameters__ = dict(kinds)
        return checked

    return decorate


# -- Single checks (for code that validates outside a factory) ---------------------


def check_non_negative(name: str, value: Any, *, who: str | None = None) -> None:
    """``ValueError`` unless a concrete ``value`` is a finite number >= 0."""
    check(who, name, value, NON_NEGATIVE)


def check_positive(name: str, value: Any, *, who: str | None = None) -> None:
    """``ValueError`` unless a concrete ``value`` is a finite number > 0."""
    check(who, name, value, POSITIVE)


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
    who: str | None = None,
) -> None:
    """``ValueError`` unless a concrete ``value`` lies in the interval."""
    kind = real(low, high, low_open=not low_inclusive, high_open=not high_inclusive)
    check(who, name, value, kind)


def check_schedule_or_non_negative(
    name: str, value: Any, *, who: str | None = None
) -> None:
    """Learning rates: a schedule (callable) passes; a number must be >= 0."""
    check(who, name, value, LEARNING_RATE)


def check_transformation(who: str, name: str, value: Any) -> None:
    """``TypeError`` unless ``value`` is a gradient transformation."""
    check(who, name, value, TRANSFORMATION)


def require_params(params: Any, who: str) -> None:
    """``ValueError`` if ``params`` is None: ``who`` needs the parameters."""
    if params is None:
        raise ValueError(
            f"{who} needs the parameters: call update(updates, state, params)."
        )


# -- Trees --------------------------------------------------------------------------


def _path_str(path: tuple) -> str:
    return jax.tree_util.keystr(path) if path else "<root>"


def _leaf_paths(tree: Any) -> list[str]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]
    return [_path_str(path) for path, _ in flat]


def describe_structure_mismatch(
    tree: Any, reference: Any, *, what: str = "gradients"
) -> str | None:
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
            return f"first differing path: the {what} have {pa} where expected {pb}"
        if pb not in in_a:
            return f"first differing path: the {what} lack the leaf at {pb}"
        if pa not in in_b:
            return f"first differing path: the {what} have an extra leaf at {pa}"
        return f"first differing path: the {what} have {pa} where expected {pb}"
    if len(a) > len(b):
        return f"first differing path: the {what} have an extra leaf at {a[len(b)]}"
    return f"first differing path: the {what} lack the leaf at {b[len(a)]}"


def describe_prefix_mismatch(
    prefix: Any, tree: Any, *, what: str = "mask", of: str = "updates"
) -> str | None:
    """Where ``prefix`` (a mask, a label tree) fails to be a prefix of ``tree``.

    A leaf of ``prefix`` may stand for a whole subtree of ``tree``. Returns
    None when it is a prefix, else a sentence naming the first path of one
    tree the other lacks.
    """
    try:
        jax.tree.map(lambda *_: None, prefix, tree)
        return None
    except (ValueError, TypeError):
        pass
    mine = _leaf_paths(prefix)
    theirs = _leaf_paths(tree)
    for path in mine:
        if path == "<root>":
            return None
        if not any(p == path or p.startswith(path) for p in theirs):
            return f"the {what} has {path}, which the {of} lack"
    for path in theirs:
        if not any(path == m or path.startswith(m) for m in mine):
            return f"the {what} lacks {path}, which the {of} have"
    return f"the {what} and the {of} differ in the kind of a node"


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
        elif isinstance(node, tuple | list):
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
    msg = describe_structure_mismatch(tree, reference, what=what)
    if msg is not None:
        raise ValueError(
            f"The structure of the {what} does not match {against}; {msg}."
        )


def _shape_dtype(x: Any) -> tuple[tuple[int, ...], Any]:
    return tuple(np.shape(x)), jnp.result_type(x)


def _is_none(x: Any) -> bool:
    return x is None


def _path_of_leaf(tree: Any, index: int) -> str:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_none)[0]
    return _path_str(flat[index][0])


def check_updates_like(
    updates: Any,
    params: Any,
    *,
    who: str,
    what: str = "updates",
    against: str = "parameter",
) -> None:
    """Raise unless ``updates`` has the structure, shapes and kinds of ``params``.

    Checked at trace time from shapes and dtypes only (free at run time):

    * the structure, naming the first differing path (``ValueError``);
    * each leaf's shape equals its parameter's (``ValueError`` naming the path
      and both shapes and dtypes): broadcasting a ``(3, 1)`` gradient onto a
      ``(3,)`` bias would silently turn the bias into ``(3, 3)``;
    * complex updates for real parameters (``TypeError``): the imaginary part
      would be dropped or would turn real state complex.

    ``None`` parameters (and the updates at their place) are skipped.

    Args:
      updates: the tree to check.
      params: the reference tree.
      who: the function reporting (``"apply_updates"``).
      what: what ``updates`` are called in the message (``"gradients"``).
      against: what one leaf of ``params`` is called (``"optimizer state"``).
    """
    leaves_u, def_u = jax.tree.flatten(updates, is_leaf=_is_none)
    leaves_p, def_p = jax.tree.flatten(params, is_leaf=_is_none)
    if def_u != def_p:
        # dict and FrozenDict with the same keys differ only in node type.
        msg = describe_structure_mismatch(updates, params, what=what)
        if msg is not None:
            raise ValueError(
                f"{who}: the structure of the {what} does not match the "
                f"{against}s; {msg}."
            )
    for i, (u, p) in enumerate(zip(leaves_u, leaves_p, strict=True)):
        if u is None or p is None:
            continue
        (us, ud), (ps, pd) = _shape_dtype(u), _shape_dtype(p)
        if us != ps:
            raise ValueError(
                f"{who}: the {what} at {_path_of_leaf(updates, i)} have shape {us} "
                f"({ud}) but the {against} there has shape {ps} ({pd}); shapes "
                "must be equal (no broadcasting)."
            )
        if jnp.issubdtype(ud, jnp.complexfloating) and not jnp.issubdtype(
            pd, jnp.complexfloating
        ):
            raise TypeError(
                f"{who}: the {what} at {_path_of_leaf(updates, i)} are complex "
                f"({ud}) but the {against} there is real ({pd})."
            )


_SHAPES_CHECKED = contextvars.ContextVar("tsx_updates_checked", default=False)


@contextlib.contextmanager
def updates_checked() -> Iterator[None]:
    """Within: the updates are known to be checked (or legitimately differ).

    ``chain`` checks its updates against the parameters once, at the outermost
    chain, and runs its members inside this context so nested chains do not
    check again. Aggregators run their per-element stages inside it too: there
    the updates carry a leading batch axis the parameters do not have.
    """
    token = _SHAPES_CHECKED.set(True)
    try:
        yield
    finally:
        _SHAPES_CHECKED.reset(token)


def updates_already_checked() -> bool:
    """Whether :func:`updates_checked` is active (then ``chain`` skips its check)."""
    return _SHAPES_CHECKED.get()
