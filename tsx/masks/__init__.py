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

from tsx.masks.decay import *  # noqa: F403
from tsx.masks.decay import __all__ as _decay_all
from tsx.masks.describe import *  # noqa: F403
from tsx.masks.describe import __all__ as _describe_all
from tsx.masks.groups import *  # noqa: F403
from tsx.masks.groups import __all__ as _groups_all
from tsx.masks.labels import *  # noqa: F403
from tsx.masks.labels import __all__ as _labels_all
from tsx.masks.paths import *  # noqa: F403
from tsx.masks.paths import __all__ as _paths_all
from tsx.masks.predicates import *  # noqa: F403
from tsx.masks.predicates import __all__ as _predicates_all

__all__ = [
    *_decay_all,
    *_describe_all,
    *_groups_all,
    *_labels_all,
    *_paths_all,
    *_predicates_all,
]
