"""Euclidean projections onto convex sets, for projected gradient methods.

Each ``projection_*`` maps a tree ``x`` to ``argmin_{p in C} ||x - p||_2^2``
for its set ``C`` (the tree seen as one flat vector where the set couples
coordinates).
"""

from tsx.projections.affine import *
from tsx.projections.affine import __all__ as _affine_all
from tsx.projections.box import *
from tsx.projections.box import __all__ as _box_all
from tsx.projections.l2 import *
from tsx.projections.l2 import __all__ as _l2_all
from tsx.projections.simplex import *
from tsx.projections.simplex import __all__ as _simplex_all

__all__ = sorted([*_affine_all, *_box_all, *_l2_all, *_simplex_all])
