"""The substrate of the matrix optimizers (Muon, Shampoo, SOAP, PSGD-Kron).

* :func:`matrix_view` and :class:`BlockLayout`: a leaf as a batch of
  matrices (stacked layers through dimension numbers) cut into tiles;
* :func:`inverse_root`, :func:`eigenbasis`, :func:`qr_eigenbasis`,
  :func:`spectral_norm_lower_bound`: matrix functions in float32, whose
  LAPACK kernels :func:`one_at_a_time_on_cpu` keeps unbatched on CPU;
* batches of same-shaped tiles from the whole tree run together through
  :func:`tsx.sharding.map_blocks`, which also splits them over devices
  inside :func:`tsx.sharding.distribute_matrix_work`.
"""

from tsx.matrix._linalg import (
    eigenbasis,
    inverse_root,
    one_at_a_time_on_cpu,
    qr_eigenbasis,
    spectral_norm_lower_bound,
)
from tsx.matrix._views import (
    BlockLayout,
    identities_like,
    leaf_layouts,
    matrix_view,
)

__all__ = [
    "BlockLayout",
    "eigenbasis",
    "identities_like",
    "inverse_root",
    "leaf_layouts",
    "matrix_view",
    "one_at_a_time_on_cpu",
    "qr_eigenbasis",
    "spectral_norm_lower_bound",
]
