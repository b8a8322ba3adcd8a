"""Differentiable approximations of functions by random perturbation."""

from tsx.perturbations.perturbed import *
from tsx.perturbations.perturbed import __all__ as _perturbed_all

__all__ = list(_perturbed_all)
