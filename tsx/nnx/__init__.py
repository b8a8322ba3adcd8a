"""Flax NNX training helpers: ``nnx.Optimizer`` with the TrainState's features.

* :class:`Optimizer` - ``nnx.Optimizer(model, tx, wrt=...)`` plus gradient
  accumulation, the non-finite guard and loss scaling, an EMA of the
  params, telemetry and ZeRO-1 (``zero_axis``), each off unless asked for.

Every tsx transformation also works in Flax's own ``nnx.Optimizer``
(``docs/guides/nnx.md``). Checkpoint an NNX model with its optimizer through
:class:`tsx.training.CheckpointManager`, on ``nnx.state((model, optimizer))``.
"""

from tsx.nnx._optimizer import Optimizer

__all__ = ["Optimizer"]
