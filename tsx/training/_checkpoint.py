"""Checkpoints that cannot restore wrong numbers: Orbax, plus checksums and checks.

:class:`CheckpointManager` is a thin layer over Orbax's ``CheckpointManager``
(Orbax stays the storage and the format). Each step is written as two items
in the step's own directory, committed atomically by Orbax:

* ``state`` - the training state (``StandardSave``);
* ``checksums`` - for every array, two 32-bit position-weighted sums of its
  raw bits, computed on device:

  .. math::

     c_1 = \\sum_i w_i\\,(2i+1)\\,k_1, \\qquad
     c_2 = \\sum_i (w_i \\oplus (w_i \\gg 16))\\,(2i+1)\\,k_2 \\pmod{2^{32}},

  where :math:`w_i` are the array's bits as 32-bit words and
  :math:`k_1, k_2` odd constants. Integer sums are exact in any order, so
  the value does not depend on the sharding or the number of hosts, and any
  single changed word changes :math:`c_1` (its weight is odd).

On restore every array is checked against its checksums and the state must be
finite. ``restore(target)`` takes the newest step that verifies, warns about
each corrupt step it skips and moves it aside (to ``<directory>/corrupt/``)
so that rotation (``max_to_keep``) never deletes a good step while keeping a
bad one; ``restore(target, step=n)`` raises :class:`CheckpointCorruptError`
naming the step, the file and what failed. A checkpoint written for another
model or optimizer raises :class:`CheckpointMismatchError` instead, naming the
first difference. A non-finite state is never saved (``save`` raises
:class:`~tsx.training.NonFiniteStateError`).
"""


import contextlib
import gc
import json
import logging
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tsx.training._nonfinite import first_nonfinite
from tsx.training._train_state import NonFiniteStateError

__all__ = [
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointMismatchError",
]

_FORMAT = "tsx-checksum-v1"
_K1 = np.uint32(0x9E3779B1)
_K2 = np.uint32(0x85EBCA77)
_SETTLE_SECONDS = 0.05
# Files Orbax writes as JSON or text, checked by name when a restore fails.
_TEXT_FILES = ("_CHECKPOINT_METADATA", "_METADATA", "_sharding", "metadata")


class CheckpointError(Exception):
    """A checkpoint could not be restored."""


class CheckpointCorruptError(CheckpointError):
    """A checkpoint step is damaged: unreadable, wrong numbers, or non-finite.

    Attributes:
      step: the step.
      path: the file (or array) where the damage was found.
      reason: what failed.
    """

    def __init__(self, step: int, path: str, reason: str) -> None:
        self.step, self.path, self.reason = step, path, reason
        super().__init__(f"checkpoint step {step} is corrupt: {path}: {reason}")


class CheckpointMismatchError(CheckpointError, ValueError):
    """A checkpoint was written for another training state (model, optimizer)."""


# -- Checksums -----------------------------------------------------------------


def _words(x: jax.Array) -> jax.Array:
    """The bits of ``x`` as a flat vector of uint32 words."""
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.uint8)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        x = jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)
    bits = jnp.dtype(x.dtype).itemsize * 8
    unsigned = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32, 64: jnp.uint32}[bits]
    words = jax.lax.bitcast_convert_type(x, unsigned)
    return words.astype(jnp.uint32)


def _flat_index(shape: tuple[int, ...]) -> jax.Array:
    """Each element's row-major position, in ``shape`` (uint32, wrapping).

    Computed in place of flattening: an array sharded along one axis of an
    Explicit mesh cannot be reshaped to one axis without a named sharding.
    """
    index = jnp.zeros(shape, jnp.uint32)
    stride = 1
    for axis in reversed(range(len(shape))):
        iota = jax.lax.broadcasted_iota(jnp.uint32, shape, axis)
        index = index + iota * jnp.uint32(stride % 2**32)
        stride *= shape[axis]
    return index


def _leaf_checksum(x: jax.Array) -> jax.Array:
    w = _words(jnp.asarray(x))
    odd = _flat_index(w.shape) * jnp.uint32(2) + jnp.uint32(1)
    c1 = jnp.sum(w * (odd * _K1), dtype=jnp.uint32)
    c2 = jnp.sum((w ^ (w >> 16)) * (odd * _K2), dtype=jnp.uint32)
    return jnp.stack([c1, c2])


@jax.jit
def _checksums_and_finite(leaves: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    sums = jnp.stack([_leaf_checksum(x) for x in leaves]) if leaves else None
    finite = [
        jnp.all(jnp.isfinite(x))
        for x in leaves
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    ]
    all_finite = jnp.all(jnp.stack(finite)) if finite else jnp.asarray(True)
    return sums, all_finite


def _spec(x: Any) -> tuple[list[int], str]:
    """``(shape, dtype)`` as stored: a typed PRNG key is stored as its key data."""
    dtype = jnp.result_type(x) if not hasattr(x, "dtype") else x.dtype
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        x = jax.eval_shape(jax.random.key_data, x)
        dtype = x.dtype
    return list(np.shape(x)), str(np.dtype(dtype))


def _paths_and_leaves(tree: Any) -> tuple[list[str], list[Any]]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    paths = [jax.tree_util.keystr(p, simple=True, separator=".") for p, _ in flat]
    return paths, [leaf for _, leaf in flat]


def _device_ids(x: jax.Array) -> tuple[int, ...]:
    return tuple(sorted(d.id for d in x.sharding.device_set))


def _checksums(arrays: list[jax.Array]) -> tuple[list[Any], bool]:
    """Per-leaf checksums and all-finite, one computation per set of devices.

    A state may hold arrays on different device sets (scalars on one device,
    the rest on a mesh); one jitted computation cannot take both.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(arrays):
        groups.setdefault(_device_ids(x), []).append(i)
    sums: list[Any] = [None] * len(arrays)
    finite = True
    for members in groups.values():
        part, ok = _checksums_and_finite([arrays[i] for i in members])
        for i, value in zip(
            members, np.asarray(jax.device_get(part)).tolist(), strict=True
        ):
            sums[i] = value
        finite = finite and bool(ok)
    return sums, finite


def _summary(tree: Any) -> tuple[dict[str, Any], bool, list[str], list[Any]]:
    paths, leaves = _paths_and_leaves(tree)
    arrays = [jnp.asarray(x) for x in leaves]
    sums, finite = _checksums(arrays)
    record = {
        "format": _FORMAT,
        "leaves": {
            path: dict(zip(("shape", "dtype"), _spec(x), strict=True), sum=s)
            for path, s, x in zip(paths, sums, arrays, strict=True)
        },
    }
    return record, finite, paths, leaves


# -- Quiet failures ------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the logs and stray tracebacks of a failing Orbax read.

    A damaged step makes Orbax and TensorStore log errors and leave failed
    futures behind (hundreds of lines); the failure is reported once, by
    :class:`CheckpointCorruptError`, instead.
    """
    loggers = [logging.getLogger(name) for name in ("absl", "asyncio")]
    levels = [lg.level for lg in loggers]
    hooks = sys.unraisablehook, threading.excepthook
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    sys.unraisablehook = lambda _: None
    threading.excepthook = lambda _: None
    try:
        yield
    except BaseException:
        # TensorStore's callbacks of the failed read land on Orbax's closed
        # event loop a moment later; let them, and the failed futures, go
        # while the hooks are off.
        time.sleep(_SETTLE_SECONDS)
        gc.collect()
        raise
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        sys.unraisablehook, threading.excepthook = hooks


# -- The manager ---------------------------------------------------------------


def _orbax() -> Any:
    try:
        import orbax.checkpoint as ocp
    except ImportError as err:  # pragma: no cover - orbax is in the extras
        raise ImportError(
            "tsx.training.CheckpointManager needs Orbax: pip install orbax-checkpoint"
        ) from err
    return ocp


def _describe_leaf(shape: Any, dtype: str) -> str:
    return f"{tuple(shape)} {dtype}"


class CheckpointManager:
    """Save and restore training states with Orbax, verified on restore.

    Args:
      directory: where the steps are written (one subdirectory per step).
      max_to_keep: keep the newest this many steps (None: all).
      save_interval_steps: ``save`` writes only steps divisible by this,
        unless forced.
      async_save: write in the background (``wait_until_finished`` waits).

    Use it as Orbax's manager, with the state passed directly::

        with CheckpointManager(workdir / "checkpoints", max_to_keep=3) as ckpt:
            if ckpt.latest_step() is not None:
                state = ckpt.restore(state)          # newest step that verifies
            ...
            ckpt.save(step, state)

    On many hosts every process calls every method, as with Orbax.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        max_to_keep: int | None = None,
        save_interval_steps: int = 1,
        async_save: bool = True,
    ) -> None:
        ocp = _orbax()
        self.directory = Path(directory).absolute()
        self._save_interval_steps = save_interval_steps
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            enable_async_checkpointing=async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "checksums": ocp.JsonCheckpointHandler(),
            },
        )

    # Orbax's bookkeeping, as is.
    def latest_step(self) -> int | None:
        """The newest step on disk (verified or not), or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Every step on disk, oldest first."""
        return sorted(self._manager.all_steps())

    def reached_preemption(self, step: int) -> bool:
        """Whether JAX's preemption service asks every host to save at ``step``.

        Multi-host jobs (``jax.distributed.initialize``) learn of a SIGTERM on
        any host through that service, and all agree on this step; a single
        process is never told, so it watches the signal itself.
        """
        return self._manager.reached_preemption(step)

    def wait_until_finished(self) -> None:
        """Block until background saves are written."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish background saves and release Orbax's resources."""
        self._manager.close()

    def __enter__(self) -> "CheckpointManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CheckpointManager({str(self.directory)!r}, steps={self.all_steps()})"

    def save(self, step: int, state: Any, *, force: bool = False) -> bool:
        """Write ``state`` as step ``step`` (when due, or ``force``).

        Returns whether a save started. Raises
        :class:`~tsx.training.NonFiniteStateError` (naming the first array)
        rather than write a state holding NaN or Inf.
        """
        if not force and step % self._save_interval_steps != 0:
            return False
        record, finite, paths, leaves = _summary(state)
        if not finite:
            raise NonFiniteStateError(
                f"not saving step {step}: the state holds non-finite values at "
                f"{first_nonfinite(paths, leaves) or '<unknown>'}."
            )
        ocp = _orbax()
        return self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                checksums=ocp.args.JsonSave(record),
            ),
            # Whether the step is due is decided above.
            force=True,
        )

    def restore(self, target: Any, step: int | None = None) -> Any:
        """The state of ``step`` (or of the newest step that verifies).

        Args:
          target: a state (or a tree of ``jax.ShapeDtypeStruct``) with the
            structure, shapes, dtypes and shardings to restore into.
          step: a step to restore; None: the newest step that verifies, with
            a warning naming each corrupt step skipped (they are moved to
            ``<directory>/corrupt/``).

        Raises:
          CheckpointCorruptError: ``step`` (or every step) is damaged.
          CheckpointMismatchError: the checkpoint was written for another
            state (another model, optimizer or configuration).
          FileNotFoundError: there is no checkpoint.
        """
        if step is not None:
            return self._restore_step(step, target)
        steps = self.all_steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}.")
        skipped: list[CheckpointCorruptError] = []
        for candidate in reversed(steps):
            try:
                state = self._restore_step(candidate, target)
            except CheckpointCorruptError as err:
                reason = str(err).rstrip(".")
                warnings.warn(
                    f"{reason}. Trying an earlier step; this one is moved to "
                    f"{self.directory / 'corrupt'}.",
                    stacklevel=2,
                )
                skipped.append(err)
                continue
            self._quarantine([err.step for err in skipped])
            return state
        self._quarantine([err.step for err in skipped])
        raise CheckpointCorruptError(
            steps[0],
            str(self.directory),
            f"no step verifies ({', '.join(str(e) for e in skipped)})",
        )

    # -- Restoring one step --------------------------------------------------------

    def _restore_step(self, step: int, target: Any) -> Any:
        ocp = _orbax()
        step_dir = self.directory / str(step)
        if not step_dir.is_dir():
            raise FileNotFoundError(f"no checkpoint step {step} in {self.directory}.")
        record = self._read_record(step)
        with _quiet():
            try:
                metadata = self._manager.item_metadata(step)
                saved_tree = getattr(metadata["state"], "tree", None)
            except Exception as err:  # noqa: BLE001 - any failure to read
                raise self._corrupt(step, err) from None
            if saved_tree is None:
                raise self._corrupt(step, ValueError("metadata unreadable"))
            self._check_consistent(step, saved_tree, record)
            self._check_same_state(step, record, target)
            try:
                restored = self._manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(target),
                        checksums=ocp.args.JsonRestore(),
                    ),
                )
            except Exception as err:  # noqa: BLE001 - any failure to read
                raise self._corrupt(step, err) from None
        self._verify(step, restored["state"], record)
        return restored["state"]

    def _read_record(self, step: int) -> dict[str, Any]:
        """The checksum record of ``step``, read directly (it is small JSON)."""
        path = self.directory / str(step) / "checksums" / "metadata"
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointCorruptError(
                step, str(path), f"unreadable ({err})"
            ) from None
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            raise CheckpointCorruptError(step, str(path), "not a tsx checksum record")
        return record

    def _check_consistent(self, step: int, saved_tree: Any, record: Any) -> None:
        """Orbax's metadata must describe the arrays the checksums were taken of.

        If they disagree, one of them is damaged: a difference from the target
        would otherwise be misread as another configuration.
        """
        paths, leaves = _paths_and_leaves(saved_tree)
        described = {p: _spec(x) for p, x in zip(paths, leaves, strict=True)}
        recorded = {
            p: (entry.get("shape"), entry.get("dtype"))
            for p, entry in record.get("leaves", {}).items()
            if isinstance(entry, dict)
        }
        described = {p: tuple(spec) for p, spec in described.items()}
        if described != recorded:
            first = next(
                (
                    p
                    for p in sorted(set(described) | set(recorded))
                    if described.get(p) != recorded.get(p)
                ),
                "<structure>",
            )
            raise CheckpointCorruptError(
                step,
                str(self.directory / str(step) / "state" / "_METADATA"),
                f"the metadata of {first} does not match its checksum record",
            )

    def _check_same_state(self, step: int, record: Any, target: Any) -> None:
        """Raise :class:`CheckpointMismatchError` at the first difference."""
        saved = {
            p: (tuple(entry["shape"]), entry["dtype"])
            for p, entry in record["leaves"].items()
        }
        paths, leaves = _paths_and_leaves(target)
        wanted = {}
        for p, x in zip(paths, leaves, strict=True):
            shape, dtype = _spec(x)
            wanted[p] = (tuple(shape), dtype)
        difference = None
        for path in paths:
            if path not in saved:
                difference = f"this state has {path}, which the checkpoint lacks"
                break
            if saved[path] != wanted[path]:
                difference = (
                    f"{path} is {_describe_leaf(*saved[path])} in the checkpoint "
                    f"and {_describe_leaf(*wanted[path])} in this state"
                )
                break
        if difference is None:
            extra = [p for p in saved if p not in wanted]
            if extra:
                difference = f"the checkpoint has {extra[0]}, which this state lacks"
        if difference is not None:
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} was written for "
                f"another training state (another model, optimizer or "
                f"configuration): {difference}. Restore it with the configuration "
                "it was written with, or start this run in a new directory."
            )

    def _verify(self, step: int, state: Any, record: Any) -> None:
        found, finite, paths, leaves = _summary(state)
        expected = record["leaves"]
        state_dir = str(self.directory / str(step) / "state")
        for path in paths:
            want = expected.get(path)
            got = found["leaves"][path]
            if want is None or want["sum"] != got["sum"]:
                raise CheckpointCorruptError(
                    step,
                    f"{state_dir} (array {path})",
                    "the array's contents do not match the checksum written with it",
                )
        if not finite:
            raise CheckpointCorruptError(
                step,
                f"{state_dir} (array {first_nonfinite(paths, leaves)})",
                "the restored state holds non-finite values",
            )

    def _corrupt(self, step: int, err: BaseException) -> CheckpointCorruptError:
        """A corruption error naming the file that fails, found by reading each."""
        step_dir = self.directory / str(step)
        for path in sorted(step_dir.rglob("*")):
            if not path.is_file():
                continue
            if path.name in _TEXT_FILES or path.parent.name == "array_metadatas":
                try:
                    json.loads(path.read_text())
                except (UnicodeDecodeError, json.JSONDecodeError) as bad:
                    return CheckpointCorruptError(
                        step, str(path), f"unreadable ({bad})"
                    )
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        mentioned = [
            path
            for path in sorted(step_dir.rglob("*"), key=lambda p: -len(str(p)))
            if str(path) in message
        ]
        where = mentioned[0] if mentioned else step_dir
        return CheckpointCorruptError(step, str(where), message[:300])

    def _quarantine(self, steps: list[int]) -> None:
        """Move corrupt steps aside, so rotation never counts them."""
        if not steps:
            return
        if jax.process_index() == 0:
            aside = self.directory / "corrupt"
            aside.mkdir(exist_ok=True)
            for step in steps:
                target = aside / str(step)
                if target.exists():
                    shutil.rmtree(target)
                shutil.move(str(self.directory / str(step)), target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("tsx_checkpoint_quarantine")
        self._manager.reload()
