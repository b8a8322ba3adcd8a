"""Experimental features (``optax.experimental``'s names).

``tsx.experimental.aggregating`` holds the aggregators: transformations fed
per-element gradients, with micro-batch accumulation and gradient-variance
monitoring. As in Optax, reach it as ``from tsx.experimental import
aggregating`` (``import tsx.experimental.aggregating`` works too).
"""

from tsx import _module_aliases
from tsx.experimental import aggregating

__all__ = [
    "aggregating",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
