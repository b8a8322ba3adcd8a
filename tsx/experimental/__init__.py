"""Experimental features (``optax.experimental``'s names).

``tsx.experimental.aggregating`` holds the aggregators: transformations fed
per-element gradients, with micro-batch accumulation and gradient-variance
monitoring. As in Optax, reach it as ``from tsx.experimental import
aggregating`` (``import tsx.experimental.aggregating`` works too).
"""

from tsx.experimental import aggregating

__all__ = ["aggregating"]
