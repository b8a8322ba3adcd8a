"""tsx: gradient processing and optimization for JAX, a drop-in for Optax.

``import tsx as optax`` works for user code: the same names, signatures,
defaults, numerics and state layouts, plus Linen training helpers
(:mod:`tsx.training`, :mod:`tsx.masks`).
"""

from tsx import (
    assignment,
    contrib,
    experimental,
    losses,
    masks,
    microbatching,
    optimizers,
    perturbations,
    projections,
    schedules,
    second_order,
    training,
    transforms,
    tree,
    tree_utils,
)
from tsx.base import *  # noqa: F403
from tsx.combine import *  # noqa: F403
from tsx.gradient_scaling import scale_gradient
from tsx.linear_algebra import *  # noqa: F403
from tsx.losses import *  # noqa: F403
from tsx.microbatching import microbatch
from tsx.numerics import (
    safe_increment,
    safe_int32_increment,
    safe_norm,
    safe_root_mean_squares,
)
from tsx.optimizers import *  # noqa: F403
from tsx.schedules import *  # noqa: F403
from tsx.transforms import *  # noqa: F403
from tsx.tree_utils import tree_bias_correction as bias_correction
from tsx.tree_utils import tree_map_params
from tsx.tree_utils import tree_update_infinity_moment as update_infinity_moment
from tsx.tree_utils import tree_update_moment as update_moment
from tsx.tree_utils import (
    tree_update_moment_per_elem_norm as update_moment_per_elem_norm,
)
from tsx.update import *  # noqa: F403

__version__ = "0.1.0"
