"""Linear assignment (bipartite matching) solvers."""

from tsx.assignment.hungarian import *
from tsx.assignment.hungarian import __all__ as _hungarian_all

__all__ = list(_hungarian_all)
