"""Low-bit optimizer states: 16-, 8- and 4-bit storage for any optimizer.

:func:`quantized_state` wraps a transformation and keeps its large float
state leaves compressed between steps; :func:`quantize`,
:func:`dequantize` and :func:`stochastic_round_bf16` are the codes it uses.
"""

from tsx.lowbit._codes import (
    QuantizedArray,
    dequantize,
    quantize,
    stochastic_round_bf16,
)
from tsx.lowbit._state import LowBitState, quantized_state, state_bytes

__all__ = [
    "LowBitState",
    "QuantizedArray",
    "dequantize",
    "quantize",
    "quantized_state",
    "state_bytes",
    "stochastic_round_bf16",
]
