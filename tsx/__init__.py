"""tsx: gradient processing and optimization for JAX, a drop-in for Optax.

``import tsx as optax`` works for user code: the same names, signatures,
defaults, numerics and state layouts, plus Linen training helpers
(:mod:`tsx.training`, :mod:`tsx.masks`).
"""

from tsx import numerics as _numerics
from tsx import optimizers, transforms, tree, tree_utils
from tsx.base import *  # noqa: F403
from tsx.base import __all__ as _base_all
from tsx.combine import *  # noqa: F403
from tsx.combine import __all__ as _combine_all
from tsx.numerics import (
    safe_increment,
    safe_int32_increment,
    safe_norm,
    safe_root_mean_squares,
)
from tsx.optimizers import *  # noqa: F403
from tsx.optimizers import __all__ as _optimizers_all
from tsx.transforms import *  # noqa: F403
from tsx.transforms import __all__ as _transforms_all
from tsx.tree_utils import (
    tree_bias_correction as bias_correction,
)
from tsx.tree_utils import (
    tree_update_infinity_moment as update_infinity_moment,
)
from tsx.tree_utils import (
    tree_update_moment as update_moment,
)
from tsx.tree_utils import (
    tree_update_moment_per_elem_norm as update_moment_per_elem_norm,
)
from tsx.update import *  # noqa: F403
from tsx.update import __all__ as _update_all

__version__ = "0.1.0"

__all__ = sorted(
    {
        *_base_all,
        *_combine_all,
        *_optimizers_all,
        *_transforms_all,
        *_update_all,
        "bias_correction",
        "update_infinity_moment",
        "update_moment",
        "update_moment_per_elem_norm",
        "safe_increment",
        "safe_int32_increment",
        "safe_norm",
        "safe_root_mean_squares",
        "optimizers",
        "transforms",
        "tree",
        "tree_utils",
    }
)
del _numerics
