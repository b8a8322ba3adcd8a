"""Low-bit optimizer states: 16-, 8- and 4-bit storage for any optimizer.

:func:`quantized_state` wraps a transformation and keeps its large float
state leaves compressed between steps; :func:`quantize`,
:func:`dequantize` and :func:`stochastic_round_bf16` are the codes it uses.
:func:`master_weights` trains bfloat16 params with their rounding error kept
in 8 bits, in place of a float32 master copy.
"""

from tsx.lowbit._codes import (
    QuantizedArray,
    dequantize,
    quantize,
    stochastic_round_bf16,
)
from tsx.lowbit._master import MasterWeightsState, master_error, master_weights
from tsx.lowbit._state import LowBitState, quantized_state, state_bytes

__all__ = [
    "LowBitState",
    "MasterWeightsState",
    "QuantizedArray",
    "dequantize",
    "master_error",
    "master_weights",
    "quantize",
    "quantized_state",
    "state_bytes",
    "stochastic_round_bf16",
]
