"""Differentiable approximations of functions by random perturbation."""

from tsx import _module_aliases
from tsx.perturbations._perturbed import (
    Gumbel,
    Normal,
    make_perturbed_fun,
)

__all__ = [
    "Gumbel",
    "Normal",
    "make_perturbed_fun",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
