"""Tree math and state utilities (``optax.tree_utils``'s names)."""

from tsx import _module_aliases
from tsx.tree_utils._arithmetic import (
    tree_add,
    tree_add_scale,
    tree_all_finite,
    tree_allclose,
    tree_batch_shape,
    tree_clip,
    tree_conj,
    tree_div,
    tree_full_like,
    tree_max,
    tree_min,
    tree_mul,
    tree_norm,
    tree_ones_like,
    tree_real,
    tree_scale,
    tree_size,
    tree_sub,
    tree_sum,
    tree_vdot,
    tree_where,
    tree_zeros_like,
)
from tsx.tree_utils._casting import (
    tree_cast,
    tree_cast_like,
    tree_dtype,
)
from tsx.tree_utils._moments import (
    tree_bias_correction,
    tree_running_mean,
    tree_update_infinity_moment,
    tree_update_moment,
    tree_update_moment_per_elem_norm,
)
from tsx.tree_utils._params_mapping import tree_map_params
from tsx.tree_utils._random_trees import (
    tree_random_like,
    tree_split_key_like,
    tree_unwrap_random_key_data,
)
from tsx.tree_utils._state_search import (
    NamedTupleKey,
    tree_get,
    tree_get_all_with_path,
    tree_set,
)
from tsx.tree_utils._variables import tree_unbox

__all__ = [
    "NamedTupleKey",
    "tree_add",
    "tree_add_scale",
    "tree_all_finite",
    "tree_allclose",
    "tree_batch_shape",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_running_mean",
    "tree_real",
    "tree_scale",
    "tree_set",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_unbox",
    "tree_unwrap_random_key_data",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
