"""Moving arrays between shardings, on Auto and on Explicit meshes alike.

JAX has two kinds of mesh axes. On an ``Auto`` axis the sharding of an
intermediate is a hint (``jax.lax.with_sharding_constraint``) and XLA's
partitioner inserts the communication; on an ``Explicit`` axis (the default
of ``jax.make_mesh``) the sharding is part of the array's type, operations
whose result sharding is ambiguous are errors, and moving data is
``jax.sharding.reshard``. :func:`reshard` hides the difference; every place
in tsx that needs an array laid out differently goes through it.

Matrix functions (Newton-Schulz, SVD, eigendecompositions, matrix roots) need
a whole matrix on one device. :func:`map_matrices` gives them that: without a
work axis each matrix is gathered and the result is sharded back like its
input; inside :func:`distribute_matrix_work` same-shaped matrices are stacked
and the stack is split over a mesh axis, so each device computes about ``1/N``
of the matrices before the results are gathered back.
"""

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "cond",
    "distribute_matrix_work",
    "explicit_axes",
    "explicit_spec",
    "gathered",
    "map_blocks",
    "map_matrices",
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
    axis: str


_WORK_AXIS: contextvars.ContextVar[_WorkAxis | None] = contextvars.ContextVar(
    "tsx_matrix_work_axis", default=None
)


@contextlib.contextmanager
def distribute_matrix_work(mesh: jax.sharding.Mesh, axis: str) -> Iterator[None]:
    """Inside this block, :func:`map_matrices` splits its work over ``axis``.

    Same-shaped matrices are stacked and the stack is sharded along ``mesh``'s
    ``axis``: with ``N`` devices on that axis each computes about ``1/N`` of
    the matrices (Newton-Schulz iterations, eigendecompositions), then the
    results are gathered. The numbers are the same as without the block.
    ``TrainState.create(..., zero_axis=...)`` enters it around the optimizer
    update; use it directly around ``tx.update`` in a hand-written step.

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
    token = _WORK_AXIS.set(_WorkAxis(mesh, axis))
    try:
        yield
    finally:
        _WORK_AXIS.reset(token)


def _constrain(tree: Any, work: _WorkAxis, split: bool) -> Any:
    """The stacked tree split over (``split``) or replicated across the axis."""

    def one(x: jax.Array) -> jax.Array:
        spec = P(work.axis if split else None, *([None] * (x.ndim - 1)))
        return _move(x, spec, work.mesh)

    return jax.tree.map(one, tree)


def _whole_on_each_device(tree: Any) -> Any:
    """``tree`` replicated over the mesh in context (no-op without one).

    Matrix work then runs whole on every device, with no collective inside
    it: XLA's CPU runtime can deadlock on collectives mixed with
    eigendecompositions across forced host devices.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return tree
    return jax.tree.map(lambda x: _move(x, P(*([None] * x.ndim)), mesh), tree)


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


def _on_devices(batched: Callable[[Any], Any], stack: Any) -> Any:
    """``batched(stack)``: whole on every device, or split over the work axis.

    With a work axis each device runs ``batched`` on its own part of the
    stack (``shard_map``), so the work holds no collective; the parts are
    gathered after.
    """
    work = _WORK_AXIS.get()
    if work is None:
        return _whole_on_each_device(batched(_whole_on_each_device(stack)))
    context = jax.sharding.get_abstract_mesh()
    local = jax.shard_map(
        batched,
        mesh=work.mesh if context.empty else context,
        in_specs=P(work.axis),
        out_specs=P(work.axis),
        check_vma=False,
    )
    return _constrain(local(_constrain(stack, work, True)), work, False)


def _map_stacks(
    batched_fn: Callable[[Any, Hashable], Callable[[Any], Any]],
    stacks: Sequence[Any],
    keys: Sequence[Hashable],
) -> list[Any]:
    """The one placement engine behind :func:`map_matrices` and :func:`map_blocks`.

    Each item of ``stacks`` is a tree of arrays with a leading batch axis.
    Items whose trailing shapes, dtypes and key agree are concatenated into
    one stack, padded (repeating its first row) to a multiple of the work
    axis' size, run through ``batched_fn(key)`` by :func:`_on_devices`, and
    the results are cut back into one stack per item.
    """
    work = _WORK_AXIS.get()
    size = 1 if work is None else work.mesh.shape[work.axis]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (item, key) in enumerate(zip(stacks, keys, strict=True)):
        leaves, treedef = jax.tree.flatten(item)
        shapes = tuple((x.shape[1:], jnp.dtype(x.dtype)) for x in leaves)
        groups.setdefault((treedef, shapes, key), []).append(i)
    out: list[Any] = [None] * len(stacks)
    for (_, _, key), members in groups.items():
        parts = [gathered(stacks[i]) for i in members]
        counts = [jax.tree.leaves(p)[0].shape[0] for p in parts]
        stack = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
        pad = -sum(counts) % size
        if pad:
            stack = jax.tree.map(
                lambda x: jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]), stack
            )
        results = _on_devices(batched_fn(key), stack)
        start = 0
        for i, count in zip(members, counts, strict=True):
            out[i] = jax.tree.map(lambda r, s=start, c=count: r[s : s + c], results)
            start += count
    return out


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
    item alone). Outside :func:`distribute_matrix_work` every device computes
    every group on whole matrices (items sharded by their type or over the
    mesh in context are gathered). Inside, each stack is split over the work
    axis (padded by repeating its first item up to a multiple of the axis
    size) and the results are gathered: each device does about ``1/N`` of
    the work.

    Args:
      fn: ``(item, key) -> result``.
      matrices: the items.
      keys: one hashable per item (default: ``None`` for all).

    Returns:
      The results, in order.
    """
    keys = [None] * len(matrices) if keys is None else list(keys)
    stacks = [jax.tree.map(lambda x: x[None], m) for m in matrices]
    results = _map_stacks(lambda key: _one_by_one(lambda m: fn(m, key)), stacks, keys)
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
    Outside :func:`distribute_matrix_work` every device computes every group
    whole; inside, each group is padded to a multiple of the work axis' size
    and split over it, so each device computes about ``1/N`` of the tiles;
    the results are gathered.

    Args:
      fn: a function of one item's slice (one tile and its companions).
      stacks: the items.

    Returns:
      The results, one stack per item, in order.
    """
    return _map_stacks(lambda _: jax.vmap(fn), stacks, [None] * len(stacks))


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
