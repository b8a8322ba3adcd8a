"""Moving arrays between shardings, on Auto and on Explicit meshes alike.

JAX has two kinds of mesh axes. On an ``Auto`` axis the sharding of an
intermediate is a hint (``jax.lax.with_sharding_constraint``) and XLA's
partitioner inserts the communication; on an ``Explicit`` axis (the default
of ``jax.make_mesh``) the sharding is part of the array's type, operations
whose result sharding is ambiguous are errors, and moving data is
``jax.sharding.reshard``. :func:`reshard` hides the difference; every place
in tsx that needs an array laid out differently goes through it.

Matrix functions (Newton-Schulz, SVD, eigendecompositions, matrix roots) need
a whole matrix on one device. :func:`map_matrices` gives them that, and on a
mesh of several devices it spreads the work: each matrix gets one owner
device (owners balanced over all shapes, :func:`matrix_owners`), the matrix
is moved to its owner and its result back to the matrix's own layout (an
all-to-all when the matrices are split along a dimension), and each device
computes only what it owns. The mesh is the one in context (``jax.set_mesh``),
else the one an input's type names (Explicit axes);
:func:`distribute_matrix_work` narrows the work to one axis or names a mesh
tracing cannot see.
"""


import contextlib
import contextvars
import dataclasses
import functools
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "auto_axes_update",
    "cond",
    "distribute_matrix_work",
    "explicit_axes",
    "explicit_spec",
    "gathered",
    "map_blocks",
    "map_matrices",
    "matrix_owners",
    "reshard",
    "sharded_like",
    "zeros_of_type",
]


def _type_sharding(x: Any) -> Any:
    try:
        return getattr(jax.typeof(x), "sharding", None)
    except TypeError:  # not an array (None, a Python number)
        return None


def _spec_axes(spec: P) -> set[str]:
    names: set[str] = set()
    for entry in spec:
        if entry is None:
            continue
        names.update(entry if isinstance(entry, tuple) else (entry,))
    return names


def explicit_axes(mesh: Any) -> set[str]:
    """The names of ``mesh``'s Explicit axes (empty for None or an Auto mesh).

    Args:
      mesh: a ``Mesh``, an ``AbstractMesh`` or None.
    """
    if mesh is None:
        return set()
    return {
        name
        for name, kind in zip(mesh.axis_names, mesh.axis_types, strict=True)
        if kind == AxisType.Explicit
    }


def explicit_spec(x: Any) -> P | None:
    """The ``PartitionSpec`` in ``x``'s type when it uses an Explicit mesh axis.

    ``None`` for arrays on Auto meshes, on one device, or replicated: their
    type says nothing about how they are laid out, so operations on them need
    no care.

    Args:
      x: an array, a tracer, or anything else (then ``None``).
    """
    sharding = _type_sharding(x)
    spec = getattr(sharding, "spec", None)
    if spec is None:
        return None
    return spec if _spec_axes(spec) & explicit_axes(sharding.mesh) else None


def _move(x: jax.Array, spec: P, mesh: Any = None) -> jax.Array:
    """``x`` laid out as ``spec`` on ``mesh`` (or on the mesh in context).

    The mesh in context wins: inside ``jax.sharding.auto_axes`` the axes of an
    Explicit mesh are Auto, and constraints are then the right tool. Without
    either, the mesh of ``x``'s own type.
    """
    context = jax.sharding.get_abstract_mesh()
    if not context.empty:
        current, target = context, spec
    elif mesh is not None:
        current, target = mesh, NamedSharding(mesh, spec)
    else:
        current, target = getattr(_type_sharding(x), "mesh", None), spec
        if current is None or current.empty:
            return x  # no mesh anywhere: nothing to lay out
    explicit = explicit_axes(current)
    if (_spec_axes(spec) | _spec_axes(explicit_spec(x) or P())) & explicit:
        return jax.sharding.reshard(x, target)
    return jax.lax.with_sharding_constraint(x, target)


def reshard(tree: Any, shardings: Any) -> Any:
    """``tree`` laid out as ``shardings`` say (a matching tree, or one for all).

    On an Explicit mesh axis this is ``jax.sharding.reshard`` (the layout is
    part of the type); on an Auto axis, ``jax.lax.with_sharding_constraint``
    (XLA moves the data). Works inside and outside ``jit``.

    Args:
      tree: arrays.
      shardings: a ``NamedSharding`` or ``PartitionSpec`` per leaf of
        ``tree`` (or one for every leaf). A ``PartitionSpec`` refers to the
        mesh in context, else to the mesh in the leaf's type.

    Returns:
      ``tree``, resharded.
    """
    if isinstance(shardings, jax.sharding.Sharding | P):
        shardings = jax.tree.map(lambda _: shardings, tree)

    def one(x: Any, sharding: NamedSharding | P) -> Any:
        if x is None:
            return None
        if isinstance(sharding, P):
            return _move(x, sharding)
        return _move(x, sharding.spec, sharding.mesh)

    return jax.tree.map(
        one, tree, shardings, is_leaf=lambda s: isinstance(s, P) or s is None
    )


def zeros_of_type(struct: jax.ShapeDtypeStruct) -> jax.Array:
    """Zeros of ``struct``'s shape and dtype, and its layout where that is a type.

    ``jax.lax.cond`` needs both branches to return the same types; on an
    Explicit mesh the sharding is part of the type.

    Args:
      struct: a ``jax.ShapeDtypeStruct`` (with a ``sharding`` or not).
    """
    zeros = jnp.zeros(struct.shape, struct.dtype)
    sharding = getattr(struct, "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if explicit_axes(mesh) and _spec_axes(sharding.spec):
        return _move(zeros, sharding.spec, mesh)
    return zeros


def gathered(tree: Any) -> Any:
    """``tree`` whole on every device (a no-op unless a type says otherwise).

    Args:
      tree: arrays; those explicitly sharded are gathered.
    """

    def one(x: Any) -> Any:
        return x if explicit_spec(x) is None else _move(x, P())

    return jax.tree.map(one, tree)


def sharded_like(tree: Any, like: Any) -> Any:
    """Results shaped like ``like`` (an input array) get its explicit layout.

    Args:
      tree: arrays; those of ``like``'s shape are resharded.
      like: an array whose type may name an Explicit layout.
    """
    spec = explicit_spec(like)
    if spec is None:
        return tree
    return jax.tree.map(lambda y: _move(y, spec) if y.shape == like.shape else y, tree)


@dataclasses.dataclass(frozen=True)
class _WorkAxis:
    mesh: Any
    axes: tuple[str, ...]

    @property
    def size(self) -> int:
        return math.prod(self.mesh.shape[a] for a in self.axes)

    @property
    def spec(self) -> P:
        return P(self.axes)


_WORK_AXIS: contextvars.ContextVar[_WorkAxis | None] = contextvars.ContextVar(
    "tsx_matrix_work_axis", default=None
)


@contextlib.contextmanager
def distribute_matrix_work(mesh: jax.sharding.Mesh, axis: str) -> Iterator[None]:
    """Inside this block, :func:`map_matrices` splits its work over ``axis`` only.

    Without this block the matrix work already spreads over every device of
    the mesh in use (see :func:`map_matrices`); the block narrows it to one
    axis of ``mesh`` (or names the mesh where tracing cannot see one: Auto
    axes without ``jax.set_mesh``). The numbers are the same as without it.
    ``TrainState.create(..., zero_axis=...)`` enters it around the optimizer
    update.

    Args:
      mesh: the device mesh (``jax.sharding.Mesh``).
      axis: the name of the mesh axis to split the matrices over (usually the
        data-parallel axis).
    """
    if axis not in mesh.axis_names:
        raise ValueError(
            f"distribute_matrix_work: axis={axis!r} is not an axis of the mesh "
            f"(axes {tuple(mesh.axis_names)})."
        )
    token = _WORK_AXIS.set(_WorkAxis(mesh, (axis,)))
    try:
        yield
    finally:
        _WORK_AXIS.reset(token)


def _work_axis(items: Sequence[Any]) -> _WorkAxis | None:
    """Where matrix work is split: the block's axis, else the mesh in use.

    The mesh in use is the one in context (``jax.set_mesh``), else the one in
    the first item whose type names one (Explicit axes). Every axis of it
    that is not already manual (inside ``shard_map``) takes part; ``None``
    when that is a single device or no mesh is visible.
    """
    work = _WORK_AXIS.get()
    if work is not None:
        return work
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        typed = (_type_sharding(x) for x in jax.tree.leaves(list(items)))
        mesh = next((getattr(s, "mesh", None) for s in typed if s is not None), None)
    if mesh is None or mesh.empty:
        return None
    axes = tuple(
        name
        for name, kind in zip(mesh.axis_names, mesh.axis_types, strict=True)
        if kind != AxisType.Manual and mesh.shape[name] > 1
    )
    return _WorkAxis(mesh, axes) if axes else None


def _in_mesh(mesh: Any) -> contextlib.AbstractContextManager[Any]:
    """The mesh of a type, entered when none is in context (for ``shard_map``)."""
    unset = jax.sharding.get_abstract_mesh().empty
    if unset and isinstance(mesh, jax.sharding.AbstractMesh):
        return jax.sharding.use_abstract_mesh(mesh)
    return contextlib.nullcontext()


def _whole_on_each_device(tree: Any) -> Any:
    """``tree`` replicated over the mesh in context (no-op without one).

    Matrix work then runs whole on every device, with no collective inside
    it: XLA's CPU runtime can deadlock on collectives mixed with
    eigendecompositions across forced host devices.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return tree
    return jax.tree.map(lambda x: _replicated(x, mesh), tree)


def _one_by_one(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` over a stack, item by item (``lax.map``, not ``vmap``).

    Each item then goes through the same kernel whatever the number of
    devices, so the numbers equal ``fn`` on the item alone; and the program
    holds ``fn`` once per stack, not once per item, so compile time grows
    with the number of distinct shapes rather than matrices.
    """

    def run(stack: Any) -> Any:
        if jax.tree.leaves(stack)[0].shape[0] == 1:
            return jax.tree.map(
                lambda r: r[None], fn(jax.tree.map(lambda x: x[0], stack))
            )
        return jax.lax.map(fn, stack)

    return run


def _skipping(fn: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """``fn`` item by item where ``valid``, zeros (and no work) elsewhere."""

    def run(stack: Any, valid: jax.Array) -> Any:
        row = jax.tree.map(lambda x: x[0], stack)
        shapes = jax.eval_shape(fn, row)

        def one(args: tuple[Any, jax.Array]) -> Any:
            item, ok = args
            return jax.lax.cond(
                ok,
                fn,
                lambda _: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes),
                item,
            )

        if valid.shape[0] == 1:
            return jax.tree.map(lambda r: r[None], one((row, valid[0])))
        return jax.lax.map(one, (stack, valid))

    return run


def _owners(
    sizes: Sequence[int], costs: Sequence[float], devices: int
) -> list[list[int]]:
    """The slot of every item, balancing the work of all groups over devices.

    Group ``g`` has ``sizes[g]`` items of cost ``costs[g]`` and ``k = ceil(
    sizes[g] / devices)`` slots on each device (slots ``d k .. d k + k - 1``
    on device ``d``). Items are placed largest first, each on the least
    loaded device with a free slot of its group (Graham's LPT rule), so a
    group with fewer items than devices leaves idle slots where other groups
    put their work, instead of padded copies.
    """
    per_device = [-(-n // devices) for n in sizes]
    free = [[k] * devices for k in per_device]
    load = [0.0] * devices
    slots: list[list[int]] = [[0] * n for n in sizes]
    order = sorted(
        ((g, i) for g, n in enumerate(sizes) for i in range(n)),
        key=lambda gi: -costs[gi[0]],
    )
    for g, i in order:
        d = min((d for d in range(devices) if free[g][d]), key=lambda d: load[d])
        slots[g][i] = d * per_device[g] + per_device[g] - free[g][d]
        free[g][d] -= 1
        load[d] += costs[g]
    return slots


def matrix_owners(shapes: Sequence[tuple[int, ...]], devices: int) -> list[int]:
    """The device that computes each matrix, as :func:`map_matrices` places them.

    Matrices of one shape form a group with ``ceil(n / devices)`` slots on
    each device; the largest matrices are placed first, each on the least
    loaded device with a free slot of its group, the work of a matrix
    counted as ``m n min(m, n)`` (Newton-Schulz, eigendecompositions). For
    matrices of one shape, dtype and key, this is the placement used under a
    mesh of ``devices`` devices.

    Args:
      shapes: one shape per matrix (trailing two dimensions are the matrix).
      devices: the number of devices the work is split over.

    Returns:
      Per matrix, the index of its device along the flattened work axes.
    """
    if devices < 1:
        raise ValueError(f"matrix_owners: devices={devices!r} must be >= 1.")
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    members = list(groups.values())
    costs = [_matrix_cost(shape) for shape in groups]
    slots = _owners([len(m) for m in members], costs, devices)
    owner = [0] * len(shapes)
    for group, where in zip(members, slots, strict=True):
        per_device = -(-len(group) // devices)
        for i, slot in zip(group, where, strict=True):
            owner[i] = slot // per_device
    return owner


def _matrix_cost(shape: tuple[int, ...]) -> float:
    """The work of a matrix function on one ``shape`` matrix: ``m n min(m, n)``."""
    if len(shape) < 2:
        return float(math.prod(shape))
    return float(math.prod(shape) * min(shape[-2:]))


def _common_layout(parts: Sequence[Any]) -> list[Any]:
    """``parts`` in the explicit layout of the first (so they concatenate)."""
    specs = [explicit_spec(x) for x in jax.tree.leaves(parts[0])]

    def align(part: Any) -> Any:
        leaves, treedef = jax.tree.flatten(part)
        return treedef.unflatten(
            [
                x if s is None or explicit_spec(x) == s else _move(x, s)
                for x, s in zip(leaves, specs, strict=True)
            ]
        )

    return [align(part) for part in parts]


def _replicated(x: jax.Array, mesh: Any) -> jax.Array:
    """``x`` whole on every device of ``mesh``."""
    return _move(x, P(*([None] * x.ndim)), mesh)


def _owner_computes(
    fn: Callable[[Any], Any],
    parts: Sequence[Any],
    slots: Sequence[int],
    work: _WorkAxis,
) -> list[Any]:
    """``fn`` on every row of ``parts`` (single-row stacks), each on its owner.

    The rows are stacked in slot order (zeros in free slots) and the stack is
    moved so each device holds its own slots whole: from matrices split
    along a dimension that is an all-to-all, not a gather. Each device runs
    ``fn`` on its valid rows only; the results go back the same way, to the
    layout the rows came in (where a type says what that is).
    """
    parts = _common_layout(parts)
    total = -(-len(parts) // work.size) * work.size
    blank = jax.tree.map(jnp.zeros_like, parts[0])
    rows = [blank] * total
    for part, slot in zip(parts, slots, strict=True):
        rows[slot] = part
    stack = jax.tree.map(lambda *xs: jnp.concatenate(xs), *rows)
    first = jax.tree.leaves(stack)[0]
    valid = jnp.asarray([row is not blank for row in rows])
    spread = jax.tree.map(lambda x: _move(x, work.spec, work.mesh), (stack, valid))
    local = jax.shard_map(
        _skipping(fn) if len(parts) < total else (lambda s, _: _one_by_one(fn)(s)),
        mesh=_shard_map_mesh(work),
        in_specs=(work.spec, work.spec),
        out_specs=work.spec,
        check_vma=False,
    )
    results = _home(local(*spread), first, work)
    return [jax.tree.map(lambda r, s=slot: r[s : s + 1], results) for slot in slots]


def _shard_map_mesh(work: _WorkAxis) -> Any:
    context = jax.sharding.get_abstract_mesh()
    return work.mesh if context.empty else context


def _split_stack(batched: Callable[[Any], Any], stack: Any, work: _WorkAxis) -> Any:
    """``batched(stack)`` with the stack split over the work axes (``shard_map``).

    The stack is made whole on every device first and the results are
    gathered after: tiles come from views of matrices (reshapes of split
    arrays) and their results feed replicated statistics, so moving the
    tiles themselves between layouts costs XLA more collectives than one
    gather each way (measured: ``benchmarks/matrix_sharding.py``). Each
    device runs ``batched`` on its own part, with no collective inside.
    """
    local = jax.shard_map(
        batched,
        mesh=_shard_map_mesh(work),
        in_specs=work.spec,
        out_specs=work.spec,
        check_vma=False,
    )

    def whole(tree: Any) -> Any:
        return jax.tree.map(lambda x: _replicated(x, work.mesh), tree)

    split = jax.tree.map(lambda x: _move(x, work.spec, work.mesh), whole(stack))
    return whole(local(split))


def _home(results: Any, like: jax.Array, work: _WorkAxis) -> Any:
    """Stacked results moved from their owners to where ``like``'s type says.

    Results shaped like ``like`` take its explicit layout; other results on
    an Explicit mesh are gathered; on Auto axes XLA's partitioner moves them
    to where their users need them (an all-to-all for a split matrix).
    """
    back = explicit_spec(like)

    def one(r: jax.Array) -> jax.Array:
        if r.shape[1:] == like.shape[1:] and back is not None:
            return _move(r, back, work.mesh)
        if explicit_axes(work.mesh) & set(work.axes):
            return _replicated(r, work.mesh)
        return r

    return jax.tree.map(one, results)


def _map_stacks(
    row_fn: Callable[[Hashable], Callable[[Any], Any]],
    stacks: Sequence[Any],
    keys: Sequence[Hashable],
    vectorize: bool,
) -> list[Any]:
    """The one placement engine behind :func:`map_matrices` and :func:`map_blocks`.

    Each item of ``stacks`` is a tree of arrays with a leading batch axis.
    Items whose trailing shapes, dtypes and key agree form a group that runs
    through ``row_fn(key)``: under ``vmap`` when ``vectorize`` (blocks),
    else row by row (``lax.map``, matrices). Without a work axis
    (:func:`_work_axis`) every device runs every group on whole arrays.
    With one, single-row items (matrices) get owners balanced over all
    groups (:func:`_owners`, :func:`_owner_computes`); multi-row stacks
    (blocks) are concatenated, padded by repeating their first row to a
    multiple of the axis size and split over it (:func:`_split_stack`).
    """
    work = _work_axis(stacks)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (item, key) in enumerate(zip(stacks, keys, strict=True)):
        leaves, treedef = jax.tree.flatten(item)
        shapes = tuple((x.shape[1:], jnp.dtype(x.dtype)) for x in leaves)
        groups.setdefault((treedef, shapes, key), []).append(i)
    out: list[Any] = [None] * len(stacks)

    def batched(key: Hashable) -> Callable[[Any], Any]:
        fn = row_fn(key)
        return jax.vmap(fn) if vectorize else _one_by_one(fn)

    if work is not None and not vectorize:
        members_of = list(groups.values())
        shapes = [jax.tree.leaves(stacks[m[0]])[0].shape[1:] for m in members_of]
        slots = _owners(
            [len(m) for m in members_of], [_matrix_cost(s) for s in shapes], work.size
        )
        with _in_mesh(work.mesh):
            for (_, _, key), members, where in zip(
                groups, members_of, slots, strict=True
            ):
                results = _owner_computes(
                    row_fn(key), [stacks[i] for i in members], where, work
                )
                for i, r in zip(members, results, strict=True):
                    out[i] = r
        return out

    for (_, _, key), members in groups.items():
        parts = [gathered(stacks[i]) for i in members]
        counts = [jax.tree.leaves(p)[0].shape[0] for p in parts]
        stack = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
        if work is None:
            results = _whole_on_each_device(batched(key)(_whole_on_each_device(stack)))
        else:
            pad = -sum(counts) % work.size
            if pad:
                stack = jax.tree.map(
                    lambda x: jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]),
                    stack,
                )
            with _in_mesh(work.mesh):
                results = _split_stack(batched(key), stack, work)
        start = 0
        for i, count in zip(members, counts, strict=True):
            out[i] = jax.tree.map(lambda r, s=start, c=count: r[s : s + c], results)
            start += count
    return out


def _explicit_mesh(tree: Any) -> Any:
    """The mesh of the first leaf of ``tree`` whose type uses an Explicit axis."""
    for x in jax.tree.leaves(tree):
        sharding = _type_sharding(x)
        mesh = getattr(sharding, "mesh", None)
        if mesh is not None and explicit_axes(mesh) and mesh.size > 1:
            return mesh
    return None


def auto_axes_update(update: Callable[..., tuple[Any, Any]]) -> Callable[..., Any]:
    """An ``update(updates, state, params)`` that runs with Explicit axes made Auto.

    Matrix work runs in ``shard_map``, which cannot close over arrays whose
    type names Explicit axes; an optimizer's update closes over its state.
    So where an input's type uses an Explicit mesh, the update runs under
    ``jax.sharding.auto_axes`` (every array's layout becomes a hint) and its
    results get the layouts of the inputs they correspond to: new updates
    those of ``updates``, new state those of ``state``. Elsewhere (Auto
    meshes, one device, already inside ``auto_axes``) it is ``update``.

    Args:
      update: a transformation's update function; it must return a state of
        the input state's structure and shapes.
    """

    @functools.wraps(update)
    def run(updates: Any, state: Any, params: Any = None, **extra: Any) -> Any:
        mesh = _explicit_mesh((updates, state, params))
        if mesh is None:
            return update(updates, state, params, **extra)
        explicit = explicit_axes(mesh)
        axes = tuple(name for name in mesh.axis_names if name in explicit)
        specs = jax.tree.map(lambda x: explicit_spec(x) or P(), (updates, state))
        auto = jax.sharding.auto_axes(
            lambda u, s, p: update(u, s, p, **extra), axes=axes, out_sharding=specs
        )
        with _in_mesh(mesh):
            return auto(updates, state, params)

    return run


def map_matrices(
    fn: Callable[[Any, Hashable], Any],
    matrices: Sequence[Any],
    keys: Sequence[Hashable] | None = None,
) -> list[Any]:
    """``[fn(m, key) for m, key in zip(matrices, keys)]``, each on whole arrays.

    Each item of ``matrices`` is an array (or a small tree of arrays, e.g. a
    gradient and its preconditioner) that ``fn`` needs whole: inside ``fn``
    nothing is sharded. ``fn`` must give same-shaped results for same-shaped
    items with the same key (the key carries per-item static settings, e.g.
    dimension numbers). Results shaped like an item's first array get that
    array's layout back.

    Items of one structure, shapes, dtypes and key are stacked and ``fn``
    runs on each item of a stack in turn (not under ``vmap``: the numbers are
    the same with and without devices to spread over, and as ``fn`` on each
    item alone). With no mesh in use every group runs whole. On a mesh of
    several devices (the one of :func:`distribute_matrix_work`, else the
    one in context, else the one an item's type names) every item gets an
    owner device (:func:`matrix_owners`: balanced over all groups, no device
    computes a padded copy), items travel to their owners and results back
    to the items' layouts (one all-to-all each way for matrices split along
    a dimension), and each device runs ``fn`` on its own items only. On
    Auto axes without ``jax.set_mesh`` no mesh is visible: enter it, or
    :func:`distribute_matrix_work`.

    ``fn`` runs inside ``shard_map``: on an Explicit mesh it must not close
    over arrays (``shard_map`` refuses them); the optimizers of
    :mod:`tsx.contrib` run their update under :func:`auto_axes_update`,
    which makes that hold.

    Args:
      fn: ``(item, key) -> result``.
      matrices: the items.
      keys: one hashable per item (default: ``None`` for all).

    Returns:
      The results, in order.
    """
    keys = [None] * len(matrices) if keys is None else list(keys)
    stacks = [jax.tree.map(lambda x: x[None], m) for m in matrices]
    results = _map_stacks(lambda key: lambda m: fn(m, key), stacks, keys, False)
    return [
        sharded_like(jax.tree.map(lambda r: r[0], r), jax.tree.leaves(m)[0])
        for r, m in zip(results, matrices, strict=True)
    ]


def map_blocks(fn: Callable[[Any], Any], stacks: Sequence[Any]) -> list[Any]:
    """``[jax.vmap(fn)(s) for s in stacks]``, same-shaped stacks run together.

    Each item of ``stacks`` is a tree of arrays sharing a leading batch axis
    (e.g. the tiles of one parameter and their preconditioners). Items whose
    trailing shapes and dtypes agree are concatenated along that axis and
    ``fn`` runs once per group under ``jax.vmap``: fewer, larger kernels.
    With no mesh in use every group runs whole; on a mesh of several devices
    (the one of :func:`distribute_matrix_work`, else the one in context,
    else the one an item's type names) each group is padded (repeating
    its first tile) to a multiple of the device count and split over the
    devices, so each computes about ``1/N`` of the tiles, and the results go
    back to the tiles' layout. ``fn`` must not close over arrays on an
    Explicit mesh (see :func:`map_matrices`).

    Args:
      fn: a function of one item's slice (one tile and its companions).
      stacks: the items.

    Returns:
      The results, one stack per item, in order.
    """
    return _map_stacks(lambda _: fn, stacks, [None] * len(stacks), True)


def _mesh_in_use(pred: Any) -> Any:
    """The mesh the computation runs on, as far as tracing can see it.

    The work axis' mesh, else the mesh in context (``jax.set_mesh``), else the
    mesh in ``pred``'s type; None when none is visible.
    """
    work = _WORK_AXIS.get()
    if work is not None:
        return work.mesh
    context = jax.sharding.get_abstract_mesh()
    if not context.empty:
        return context
    return getattr(_type_sharding(pred), "mesh", None)


def _platform(mesh: Any) -> str:
    if isinstance(mesh, jax.sharding.Mesh):
        return mesh.devices.flat[0].platform
    device = getattr(mesh, "abstract_device", None)
    return getattr(device, "platform", None) or jax.default_backend()


def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``jax.lax.cond(pred, true_fn, false_fn)``, or both and a select on CPU meshes.

    With several CPU devices, XLA's CPU runtime can deadlock when a
    conditional holds collectives (a partitioned eigendecomposition, a
    gathered block): some device threads wait in a rendezvous the others
    never reach. So when the mesh in use spans several CPU devices, both
    branches run and the result is selected; on one device and on
    accelerators this is ``jax.lax.cond`` (the skipped branch costs nothing).

    The mesh in use is the one of :func:`distribute_matrix_work`, else the
    one in context (``jax.set_mesh``), else the one in ``pred``'s type. Arrays
    split over several CPU devices by their ``jit`` shardings alone, with no
    mesh in context, are not visible here: enter ``jax.set_mesh`` around such
    a step.

    Args:
      pred: a boolean scalar.
      true_fn: the branch for ``pred``, without arguments.
      false_fn: the other branch.
    """
    mesh = _mesh_in_use(pred)
    if mesh is not None and mesh.size > 1 and _platform(mesh) == "cpu":
        on, off = true_fn(), false_fn()
        return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on, off)
    return jax.lax.cond(pred, true_fn, false_fn)
