"""Second-order quantities: Hessian-vector products and curvature diagonals."""

from tsx import _module_aliases
from tsx.second_order._diagonals import (
    fisher_diag,
    hessian_diag,
    hvp,
)

__all__ = [
    "fisher_diag",
    "hessian_diag",
    "hvp",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
