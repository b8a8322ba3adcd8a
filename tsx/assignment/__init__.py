"""Linear assignment (bipartite matching) solvers."""

from tsx import _module_aliases
from tsx.assignment._hungarian import base_hungarian_algorithm, hungarian_algorithm

__all__ = [
    "base_hungarian_algorithm",
    "hungarian_algorithm",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
