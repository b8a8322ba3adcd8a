"""The substrate of the matrix optimizers (Muon, GaLore, Shampoo, SOAP, Kron).

* :class:`DimensionNumbers` (one kind for Muon, GaLore, Shampoo, SOAP and
  Kron), :func:`matrix_axes`, :func:`matrix_view` and :class:`BlockLayout`:
  a leaf as a batch of matrices (stacked layers through dimension numbers)
  cut into tiles;
* :func:`update_statistics`, :func:`two_sided`, :func:`map_sides` and
  :func:`map_by_sides`: Kronecker-factor statistics of blocks and their use,
  batched across the tree (Shampoo, SOAP);
* :func:`inverse_root`, :func:`eigenbasis`, :func:`qr_eigenbasis`,
  :func:`spectral_norm_lower_bound`, :func:`orthonormalize`: matrix
  functions in float32, whose LAPACK kernels :func:`one_at_a_time_on_cpu`
  keeps unbatched on CPU;
* batches of same-shaped tiles from the whole tree run together through
  :func:`tsx.sharding.map_blocks`, which also splits them over devices
  inside :func:`tsx.sharding.distribute_matrix_work`.
"""

from tsx.matrix._dimension_numbers import (
    DIMENSION_NUMBERS,
    DimensionNumbers,
    is_dimension_numbers,
    matrix_axes,
    resolve_dimension_numbers,
)
from tsx.matrix._factors import (
    map_by_sides,
    map_sides,
    two_sided,
    update_statistics,
)
from tsx.matrix._linalg import (
    eigenbasis,
    inverse_root,
    one_at_a_time_on_cpu,
    orthonormalize,
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
    "DIMENSION_NUMBERS",
    "BlockLayout",
    "DimensionNumbers",
    "is_dimension_numbers",
    "matrix_axes",
    "resolve_dimension_numbers",
    "eigenbasis",
    "identities_like",
    "inverse_root",
    "leaf_layouts",
    "map_by_sides",
    "map_sides",
    "matrix_view",
    "one_at_a_time_on_cpu",
    "orthonormalize",
    "qr_eigenbasis",
    "spectral_norm_lower_bound",
    "two_sided",
    "update_statistics",
]
