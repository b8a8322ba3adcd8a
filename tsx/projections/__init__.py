"""Euclidean projections onto convex sets, for projected gradient methods.

Each ``projection_*`` maps a tree ``x`` to ``argmin_{p in C} ||x - p||_2^2``
for its set ``C`` (the tree seen as one flat vector where the set couples
coordinates).
"""

from tsx import _module_aliases
from tsx.projections._affine import (
    projection_halfspace,
    projection_hyperplane,
    projection_vector,
)
from tsx.projections._box import (
    projection_box,
    projection_hypercube,
    projection_linf_ball,
    projection_non_negative,
)
from tsx.projections._l2 import projection_l2_ball, projection_l2_sphere
from tsx.projections._simplex import (
    projection_l1_ball,
    projection_l1_sphere,
    projection_simplex,
)

__all__ = [
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
