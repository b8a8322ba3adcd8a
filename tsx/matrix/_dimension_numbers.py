"""Dimension numbers: which axes of a tensor are a matrix's rows and columns.

One kind for every matrix optimizer (Muon, GaLore, Shampoo, SOAP, Kron):
``reduction_axis`` (fan-in) are the rows, ``output_axis`` (fan-out) the
columns, each an int or a sequence of ints; any other axis is a batch axis,
so a stacked ``(L, m, n)`` kernel of ``nn.scan`` with
``DimensionNumbers(1, 2)`` is ``L`` separate ``(m, n)`` matrices.
``tsx.contrib.MuonDimensionNumbers`` and ``GaLoreDimensionNumbers`` (Optax's
names) are this class.
"""


from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from tsx.validation import optional, tree_of

__all__ = [
    "DIMENSION_NUMBERS",
    "DimensionNumbers",
    "is_dimension_numbers",
    "matrix_axes",
    "resolve_dimension_numbers",
]


class DimensionNumbers(NamedTuple):
    """How to see a tensor as a batch of matrices.

    Attributes:
      reduction_axis: the axis (or axes) that become the rows (fan-in).
      output_axis: the axis (or axes) that become the columns (fan-out).
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


# One DimensionNumbers for every leaf, a tree of them (None: the optimizer's
# default for that leaf), or a function of the params returning either.
DimensionNumbersOrFn = DimensionNumbers | Any | Callable[[Any], Any]

#: The validation kind of a ``weight_dimension_numbers`` argument.
DIMENSION_NUMBERS = optional(tree_of(DimensionNumbers))


def is_dimension_numbers(x: Any) -> bool:
    """Whether ``x`` is a :class:`DimensionNumbers` (a leaf of such trees).

    Args:
      x: anything.
    """
    return isinstance(x, DimensionNumbers)


def resolve_dimension_numbers(spec: DimensionNumbersOrFn, tree: Any) -> Any:
    """``spec(tree)`` for a function, else ``spec`` itself.

    Args:
      spec: dimension numbers, a tree of them, None, or a function of
        ``tree`` returning one of those.
      tree: the params (or updates) the numbers describe.
    """
    if callable(spec) and not is_dimension_numbers(spec):
        return spec(tree)
    return spec


def _axes(ndim: int, spec: Sequence[int] | int) -> tuple[int, ...]:
    spec = (spec,) if isinstance(spec, int) else tuple(spec)
    return tuple(ax % ndim for ax in spec)


def matrix_axes(
    shape: tuple[int, ...], dim_nums: DimensionNumbers | None = None
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(batch axes, row axes, column axes)`` of a tensor of ``shape``.

    Without dimension numbers a matrix is itself, a higher-rank tensor merges
    every axis but the last into the rows, a vector is one row and a scalar a
    ``1 x 1`` matrix.

    Args:
      shape: the tensor's shape.
      dim_nums: None or a :class:`DimensionNumbers`.

    Raises:
      ValueError: when the row and column axes overlap.
    """
    ndim = len(shape)
    if dim_nums is None:
        rows, cols = (tuple(range(ndim - 1)), (ndim - 1,)) if ndim else ((), ())
    else:
        rows = _axes(ndim, dim_nums.reduction_axis)
        cols = _axes(ndim, dim_nums.output_axis)
    if set(rows) & set(cols):
        raise ValueError(
            f"reduction axes {rows} and output axes {cols} overlap "
            f"(dimension numbers {dim_nums} for shape {tuple(shape)})."
        )
    batch = tuple(sorted(set(range(ndim)) - set(rows) - set(cols)))
    return batch, rows, cols
