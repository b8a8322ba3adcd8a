"""Second-order quantities: Hessian-vector products and curvature diagonals."""

from tsx.second_order.diagonals import *
from tsx.second_order.diagonals import __all__ as _diagonals_all

__all__ = list(_diagonals_all)
