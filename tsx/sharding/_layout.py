"""Where each leaf of an optimizer state lives, and ZeRO-1 state sharding.

The rule, leaf by leaf of ``tx.init(params)`` (found with ``jax.eval_shape``,
so nothing is allocated):

1. **Follow the parameter.** A state leaf whose tree path ends with a
   parameter's path and has its shape (Adam's ``mu["dense"]["kernel"]``) gets
   that parameter's ``PartitionSpec``. On an Explicit mesh, a leaf whose type
   already carries a sharding keeps it (it is what ``init`` computes).
2. **Otherwise replicated**: counters, scalars, factored statistics.
3. **ZeRO-1** (``zero_axis="data"``, Rajbhandari et al. 2020, "ZeRO: Memory
   Optimizations Toward Training Trillion Parameter Models",
   arXiv:1910.02054): a leaf of at least ``min_size`` elements is further
   split over the ``zero_axis`` mesh axis, along its largest dimension whose
   size divides by the number of devices it would then be split over
   (the axes already on that dimension times ``zero_axis``'s size). A leaf
   already split over ``zero_axis`` (FSDP) is left as it is; a leaf with no
   dividing dimension stays replicated over ``zero_axis`` (for ResNet-50 on
   8 devices, under 0.1% of the state: ``benchmarks/README.md``).

With ``zero_axis`` each of ``N`` devices holds about ``1/N`` of the state;
the update computes on those shards and the parameters are gathered back
(``TrainState.create(..., zero_axis=...)`` does all of it inside the user's
``jit``).
"""


import contextlib
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tsx.sharding._placement import (
    distribute_matrix_work,
    explicit_axes,
    reshard,
)

__all__ = [
    "ZERO_MIN_SIZE",
    "init",
    "logical_shardings",
    "state_shardings",
    "zero_spec",
]

# Leaves smaller than this stay as they are under ZeRO: splitting them saves
# less than the bookkeeping costs.
ZERO_MIN_SIZE = 256


def _entries(spec: P, ndim: int) -> list[Any]:
    entries = list(spec) + [None] * (ndim - len(spec))
    return entries[:ndim]


def _axes_of(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def zero_spec(
    spec: P,
    shape: tuple[int, ...],
    mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh,
    zero_axis: str,
    min_size: int = ZERO_MIN_SIZE,
) -> P:
    """``spec`` with ``zero_axis`` added along the dimension the ZeRO rule picks.

    The largest dimension ``d`` with ``shape[d]`` divisible by the product of
    the mesh sizes of the axes already on ``d`` and of ``zero_axis``; ``spec``
    unchanged when the leaf has fewer than ``min_size`` elements, already
    uses ``zero_axis``, or no dimension divides.

    Args:
      spec: the leaf's sharding without ZeRO.
      shape: the leaf's shape.
      mesh: the mesh (for axis sizes).
      zero_axis: the mesh axis to split over.
      min_size: the smallest leaf (in elements) that is split.

    Example:
      >>> import jax, tsx
      >>> from jax.sharding import PartitionSpec as P
      >>> mesh = jax.sharding.AbstractMesh((4,), ("data",))
      >>> tsx.sharding.zero_spec(P(), (6, 512), mesh, "data", min_size=1)
      P(None, 'data')
    """
    entries = _entries(spec, len(shape))
    used = {a for e in entries for a in _axes_of(e)}
    if math.prod(shape) < min_size or zero_axis in used:
        return spec
    size = _size(mesh, zero_axis)
    best = None
    for d, n in enumerate(shape):
        ways = math.prod(_size(mesh, a) for a in _axes_of(entries[d]))
        if n % (ways * size) == 0 and (best is None or n > shape[best]):
            best = d
    if best is None:
        return spec
    entries[best] = _axes_of(entries[best]) + (zero_axis,)
    if len(entries[best]) == 1:
        entries[best] = zero_axis
    return P(*entries)


def _size(mesh: Any, axis: str) -> int:
    return dict(zip(mesh.axis_names, mesh.axis_sizes, strict=True))[axis]


def _param_sharding(x: Any) -> Any:
    sharding = getattr(x, "sharding", None)
    if sharding is None:
        try:
            sharding = getattr(jax.typeof(x), "sharding", None)
        except TypeError:
            return None
    if not isinstance(sharding, NamedSharding) or not sharding.mesh.axis_names:
        return None
    return sharding


def _mesh_of(shardings: list[Any], who: str) -> Any:
    meshes = {s.mesh for s in shardings if s is not None}
    if len(meshes) > 1:
        raise ValueError(
            f"{who}: the parameters live on {len(meshes)} different meshes; "
            "put them on one jax.sharding.Mesh."
        )
    if meshes:
        return meshes.pop()
    mesh = jax.sharding.get_mesh()  # the concrete mesh of jax.set_mesh
    if not getattr(mesh, "empty", True):
        return mesh
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        raise ValueError(
            f"{who}: no mesh: the parameters have no NamedSharding and no mesh "
            "is set. Place the parameters with jax.device_put(x, "
            "NamedSharding(mesh, spec)), pass param_shardings=, or call inside "
            "`with jax.set_mesh(mesh):`."
        )
    return mesh


@dataclasses.dataclass(frozen=True)
class Layout:
    """The shardings of param-shaped trees and of optimizer states (hashable).

    Attributes:
      mesh: the mesh.
      params: ``(path, shape, spec)`` of every parameter leaf.
      zero_axis: the mesh axis state is split over, or None.
      min_size: the smallest leaf ZeRO splits.
    """

    mesh: Any
    params: tuple[tuple[tuple[Any, ...], tuple[int, ...], P], ...]
    zero_axis: str | None = None
    min_size: int = ZERO_MIN_SIZE

    @classmethod
    def of(
        cls,
        params: Any,
        param_shardings: Any = None,
        *,
        zero_axis: str | None = None,
        min_size: int = ZERO_MIN_SIZE,
        who: str = "tsx.sharding",
    ) -> "Layout":
        """The layout of ``params`` (arrays or shape structs) on their mesh.

        Args:
          params: the parameter tree.
          param_shardings: a ``NamedSharding`` per leaf of ``params``; None:
            the shardings the leaves carry.
          zero_axis: the mesh axis to split optimizer state over (ZeRO-1), or
            None.
          min_size: the smallest leaf ZeRO splits.
          who: the function named in error messages.
        """
        flat, _ = jax.tree_util.tree_flatten_with_path(params)
        if param_shardings is None:
            shardings = [_param_sharding(x) for _, x in flat]
        else:
            shardings = jax.tree.leaves(
                param_shardings,
                is_leaf=lambda s: isinstance(s, jax.sharding.Sharding),
            )
            if len(shardings) != len(flat):
                raise ValueError(
                    f"{who}: param_shardings has {len(shardings)} leaves, the "
                    f"params {len(flat)}."
                )
        mesh = _mesh_of(shardings, who)
        if zero_axis is not None and zero_axis not in mesh.axis_names:
            raise ValueError(
                f"{who}: zero_axis={zero_axis!r} is not an axis of the mesh "
                f"(axes {tuple(mesh.axis_names)})."
            )
        entries = tuple(
            (
                tuple(path),
                tuple(x.shape),
                P() if s is None else P(*_entries(s.spec, len(x.shape))),
            )
            for (path, x), s in zip(flat, shardings, strict=True)
        )
        return cls(mesh, entries, zero_axis, min_size)

    def _named(self, spec: P) -> NamedSharding:
        return NamedSharding(self.mesh, spec)

    def _match(self, path: tuple[Any, ...], shape: tuple[int, ...]) -> P | None:
        for p_path, p_shape, spec in self.params:
            if p_shape == shape and path[len(path) - len(p_path) :] == p_path:
                return spec
        return None

    def _spec(self, path: tuple[Any, ...], leaf: Any, split: bool) -> P:
        shape = tuple(leaf.shape)
        spec = self._match(path, shape)
        if spec is None:
            typed = getattr(leaf, "sharding", None)
            spec = typed.spec if explicit_axes(getattr(typed, "mesh", None)) else P()
        if split and self.zero_axis is not None:
            spec = zero_spec(spec, shape, self.mesh, self.zero_axis, self.min_size)
        return spec

    def shardings(self, tree: Any, *, split: bool = True) -> Any:
        """A ``NamedSharding`` per leaf of ``tree`` (arrays or shape structs).

        ``split=False`` leaves out ZeRO (the parameters' own shardings).
        """
        return jax.tree_util.tree_map_with_path(
            lambda path, x: self._named(self._spec(tuple(path), x, split)), tree
        )

    def place(self, tree: Any, *, split: bool = True) -> Any:
        """``tree`` resharded to :meth:`shardings` (inside or outside ``jit``)."""
        return reshard(tree, self.shardings(tree, split=split))

    def split_update(
        self, update: Any, grads: Any, state: Any, params: Any
    ) -> tuple[Any, Any, Any]:
        """``update(grads, state, params)`` computed on shards (ZeRO-1).

        ``update`` returns ``(new params, new state, updates)``. It sees the
        gradient and params split like the state (on Auto axes XLA's
        partitioner then slices the gradient where it is reduced), runs
        inside :func:`distribute_matrix_work` over ``zero_axis`` (so its
        matrix work is spread over that axis), and its results come back
        as: params in their own layout (gathered), state and updates split.
        On an Explicit mesh the computation runs with the mesh's axes Auto
        (``jax.sharding.auto_axes``): optimizer code written for one device
        then never meets two arrays split along different dimensions.
        """

        def on_shards(grads: Any, state: Any, params: Any) -> tuple[Any, Any, Any]:
            grads, local = self.place(grads), self.place(params)
            with distribute_matrix_work(self.mesh, self.zero_axis):
                new_params, new_state, updates = update(grads, state, local)
            return (
                self.place(new_params, split=False),
                self.place(new_state),
                self.place(updates),
            )

        axes = explicit_axes(self.mesh)
        explicit = tuple(name for name in self.mesh.axis_names if name in axes)
        if not explicit:
            return on_shards(grads, state, params)
        # The results are shaped like (params, state, grads).
        specs = jax.tree.map(
            lambda s: s.spec,
            (
                self.shardings(params, split=False),
                self.shardings(state),
                self.shardings(grads),
            ),
        )
        auto = jax.sharding.auto_axes(on_shards, axes=explicit, out_sharding=specs)
        return _traced_under(self.mesh, auto, grads, state, params)

    def init(self, tx: Any, params: Any) -> Any:
        """``tx.init(params)``, every leaf created where :meth:`shardings` says."""
        with _mesh_context(self.mesh):
            shardings = self.shardings(jax.eval_shape(tx.init, params))
            return jax.jit(tx.init, out_shardings=shardings)(params)


def _abstract_state(tx: Any, params: Any, mesh: Any) -> Any:
    with _mesh_context(mesh):
        return jax.eval_shape(tx.init, params)


def _traced_under(mesh: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` traced with ``mesh`` in context when none is set.

    A step jitted without ``jax.set_mesh`` still names this mesh's axes
    (``use_abstract_mesh`` is allowed inside ``jax.jit``, ``set_mesh`` is
    not).
    """
    if jax.sharding.get_abstract_mesh().empty:
        with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
            return fn(*args)
    return fn(*args)


def _mesh_context(mesh: Any) -> Any:
    # Explicit meshes need a mesh in context for any computation.
    if isinstance(mesh, jax.sharding.Mesh) and jax.sharding.get_abstract_mesh().empty:
        return jax.set_mesh(mesh)
    return contextlib.nullcontext()


def state_shardings(
    tx: Any,
    params: Any,
    param_shardings: Any = None,
    *,
    zero_axis: str | None = None,
    min_size: int = ZERO_MIN_SIZE,
) -> Any:
    """The ``NamedSharding`` of every leaf of ``tx.init(params)``.

    Param-shaped leaves follow their parameter, the rest are replicated, and
    with ``zero_axis`` large leaves are split over that mesh axis (the rule in
    :mod:`tsx.sharding`). Nothing is computed: the state's shapes come from
    ``jax.eval_shape``.

    Args:
      tx: a gradient transformation.
      params: the parameters (arrays, or ``jax.ShapeDtypeStruct`` s).
      param_shardings: a ``NamedSharding`` per parameter; default: the
        parameters' own shardings.
      zero_axis: the mesh axis to split large state leaves over (ZeRO-1),
        usually the data-parallel axis; None keeps the rule's first two steps.
      min_size: leaves with fewer elements are not split by ``zero_axis``.

    Returns:
      A tree of ``NamedSharding`` shaped like ``tx.init(params)``.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> from jax.sharding import NamedSharding, PartitionSpec as P
      >>> mesh = jax.make_mesh((1,), ("data",))
      >>> params = jax.device_put(jnp.zeros((4, 256)), NamedSharding(mesh, P()))
      >>> shardings = tsx.sharding.state_shardings(
      ...     tsx.adam(1e-3), params, zero_axis="data"
      ... )
      >>> shardings[0].mu.spec, shardings[0].count.spec
      (P(None, 'data'), P())
    """
    layout = Layout.of(
        params,
        param_shardings,
        zero_axis=zero_axis,
        min_size=min_size,
        who="state_shardings",
    )
    return layout.shardings(_abstract_state(tx, params, layout.mesh))


def init(
    tx: Any,
    params: Any,
    param_shardings: Any = None,
    *,
    zero_axis: str | None = None,
    min_size: int = ZERO_MIN_SIZE,
) -> Any:
    """``tx.init(params)`` created directly in :func:`state_shardings`' layout.

    ``jax.jit(tx.init)`` alone lets XLA choose where constants such as zeros
    go (often a single device); here every leaf is born sharded, so no device
    ever holds the whole state.

    Args:
      tx: a gradient transformation.
      params: the parameters (sharded arrays).
      param_shardings: as in :func:`state_shardings`.
      zero_axis: as in :func:`state_shardings`.
      min_size: as in :func:`state_shardings`.

    Returns:
      The optimizer state.
    """
    layout = Layout.of(
        params, param_shardings, zero_axis=zero_axis, min_size=min_size, who="init"
    )
    return layout.init(tx, params)


def logical_shardings(
    tree: Any,
    mesh: jax.sharding.Mesh,
    rules: Any = None,
) -> Any:
    """``NamedSharding`` s for a tree annotated with Linen logical axis names.

    ``tree`` is what ``jax.eval_shape(model.init, ...)`` returns for a model
    whose parameters are made with ``nn.with_logical_partitioning``: leaves
    boxed in ``nn.LogicallyPartitioned`` get their logical names mapped to
    mesh axes by ``rules`` (pairs ``(logical name, mesh axis or None)``;
    default: the rules set with ``nn.logical_axis_rules``); unannotated
    leaves are replicated. The result is a plain tree (boxes removed) to pass
    as ``param_shardings`` or to ``jax.jit(..., out_shardings=...)``.

    Args:
      tree: variables (boxed or not), arrays or shape structs.
      mesh: the mesh.
      rules: logical-to-mesh axis rules.
    """
    from flax import linen as nn

    specs = nn.get_partition_spec(tree)
    shardings = nn.logical_to_mesh_sharding(specs, mesh, rules)
    return jax.tree.map(
        lambda s: NamedSharding(mesh, P()) if s is None else s,
        nn.meta.unbox(shardings),
        is_leaf=lambda s: s is None,
    )
