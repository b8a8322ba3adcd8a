"""Label and mask helpers for Linen parameter trees.

* :func:`decay_mask` - True where weight decay applies (not biases, norm
  scales/offsets or embeddings).
* :func:`labels_by_path` - a label tree from ordered regex/glob path rules.
* Predicates (:func:`by_path`, :func:`by_ndim`, :func:`by_shape`,
  :func:`by_dtype`) that compose with ``& | ~`` and work as
  ``partition(condition=...)``.
* :func:`param_groups` - per-group ``lr_mult``/``wd_mult`` and frozen groups
  (zero updates, no optimizer state) on top of any optimizer.
* :func:`describe` - a table of path, shape, dtype, size, label and
  optimizer-state bytes.
"""

from tsx import _module_aliases
from tsx.masks._decay import DEFAULT_NO_DECAY, decay_mask
from tsx.masks._describe import (
    ParameterRow,
    ParameterTable,
    describe,
)
from tsx.masks._groups import GroupOptions, param_groups
from tsx.masks._labels import (
    Rule,
    labels_by_path,
    match_rules,
)
from tsx.masks._paths import (
    flatten_with_paths,
    key_name,
    path_str,
    unflatten_like,
)
from tsx.masks._predicates import (
    Predicate,
    as_predicate,
    by_dtype,
    by_ndim,
    by_path,
    by_shape,
    compile_pattern,
    everything,
    nothing,
)

__all__ = [
    "DEFAULT_NO_DECAY",
    "GroupOptions",
    "ParameterRow",
    "ParameterTable",
    "Predicate",
    "Rule",
    "as_predicate",
    "by_dtype",
    "by_ndim",
    "by_path",
    "by_shape",
    "compile_pattern",
    "decay_mask",
    "describe",
    "everything",
    "flatten_with_paths",
    "key_name",
    "labels_by_path",
    "match_rules",
    "nothing",
    "param_groups",
    "path_str",
    "unflatten_like",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
