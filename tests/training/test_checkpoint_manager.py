"""tsx.training.CheckpointManager: Orbax checkpoints that cannot restore wrong numbers.

The oracle is the state that was saved: whatever happens to the files, a
restore gives exactly those numbers (of the damaged step or of an earlier one)
or raises CheckpointCorruptError; it never gives other values.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tests.training.models import MLP, mlp_params

ROOT = Path(__file__).resolve().parents[2]
TX = tsx.adam(1e-2)
STEP = jax.jit(
    lambda s, g: s.apply_gradients(grads=jax.tree.map(lambda p: g * p, s.params))
)


def _state(tx=TX):
    return tsx.training.TrainState.create(
        apply_fn=MLP().apply,
        params=mlp_params(),
        tx=tx,
        ema_decay=0.9,
        skip_nonfinite=True,
    )


def _states(n):
    """The states after 1..n steps."""
    state, out = _state(), []
    for i in range(n):
        state = STEP(state, 0.1 * (i + 1))
        out.append(state)
    return out


def _equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(la, lb, strict=True)
    )


def _write(directory, states, **kwargs):
    with tsx.training.CheckpointManager(directory, async_save=False, **kwargs) as m:
        for i, state in enumerate(states, start=1):
            m.save(i, state)


def test_round_trip_is_bit_for_bit_and_continues(tmp_path):
    states = _states(3)
    _write(tmp_path, states)
    with tsx.training.CheckpointManager(tmp_path) as m:
        assert m.all_steps() == [1, 2, 3] and m.latest_step() == 3
        restored = m.restore(_state())
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _state()
        )
        from_abstract = m.restore(abstract, step=2)
    assert _equal(restored, states[2])
    assert _equal(from_abstract, states[1])
    assert _equal(STEP(restored, 0.4), STEP(states[2], 0.4))


def test_save_interval_and_force(tmp_path):
    with tsx.training.CheckpointManager(
        tmp_path, save_interval_steps=5, async_save=False
    ) as m:
        states = _states(1)
        assert not m.save(3, states[0])
        assert m.save(5, states[0])
        assert m.save(7, states[0], force=True)
        assert m.all_steps() == [5, 7]


def _files(step_dir):
    return sorted(p for p in Path(step_dir).rglob("*") if p.is_file())


def _damage(path, kind, offset):
    data = bytearray(path.read_bytes())
    if kind == "flip":
        if data:
            data[offset % len(data)] ^= 0xFF
    elif kind == "truncate":
        data = data[: len(data) // 2]
    elif kind == "empty":
        data = b""
    path.write_bytes(bytes(data))


def test_damage_anywhere_never_restores_other_numbers(tmp_path):
    states = _states(2)
    pristine = tmp_path / "pristine"
    _write(pristine, states)
    relative = [p.relative_to(pristine) for p in _files(pristine / "2")]
    tried = {"newest": 0, "fallback": 0, "refused": 0}
    variants = 0
    rng = np.random.default_rng(0)
    for rel in relative:
        size = (pristine / rel).stat().st_size
        offsets = sorted({0, max(size - 1, 0), *rng.integers(0, max(size, 1), 2)})
        trials = [("flip", o) for o in offsets] + [("truncate", 0), ("empty", 0)]
        for kind, offset in trials:
            variants += 1
            work = tmp_path / "work"
            shutil.copytree(pristine, work)
            _damage(work / rel, kind, offset)
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                with tsx.training.CheckpointManager(work) as m:
                    restored = m.restore(_state())
            # Exactly the saved numbers: the damage did not matter, or the
            # step was refused and the earlier step restored.
            if _equal(restored, states[1]):
                tried["newest"] += 1
            else:
                assert _equal(restored, states[0]), (rel, kind, offset)
                assert (work / "corrupt" / "2").is_dir()  # moved aside
                tried["fallback"] += 1
            shutil.rmtree(work)
            # Asked for the damaged step itself: its numbers or an error.
            shutil.copytree(pristine, work)
            _damage(work / rel, kind, offset)
            with tsx.training.CheckpointManager(work) as m:
                try:
                    assert _equal(m.restore(_state(), step=2), states[1])
                except tsx.training.CheckpointCorruptError as err:
                    assert err.step == 2 and str(work / "2") in err.path
                    tried["refused"] += 1
            shutil.rmtree(work)
    assert variants >= 5 * len(relative) >= 5 * 15
    # The sweep hit damage that matters, and damage that does not.
    assert tried["fallback"] > 10 and tried["refused"] > 10 and tried["newest"] > 10


def test_a_corrupt_step_names_the_step_the_file_and_what_failed(tmp_path):
    _write(tmp_path, _states(2))
    metadata = tmp_path / "2" / "state" / "_METADATA"
    metadata.write_text(metadata.read_text()[:40])
    with tsx.training.CheckpointManager(tmp_path) as m:
        with pytest.raises(tsx.training.CheckpointCorruptError) as err:
            m.restore(_state(), step=2)
    assert err.value.step == 2
    assert err.value.path == str(metadata)
    assert "unreadable" in err.value.reason
    assert str(err.value).startswith("checkpoint step 2 is corrupt: ")


def test_silently_wrong_numbers_are_caught_by_the_checksums(tmp_path):
    states = _states(2)
    _write(tmp_path, states)
    # Rewrite step 2's state with other numbers, keeping its checksum record:
    # Orbax reads it without complaint.
    record = (tmp_path / "2" / "checksums" / "metadata").read_text()
    shutil.rmtree(tmp_path / "2")
    _write(tmp_path / "other", [states[0], states[0]])
    shutil.copytree(tmp_path / "other" / "2", tmp_path / "2")
    (tmp_path / "2" / "checksums" / "metadata").write_text(record)
    with tsx.training.CheckpointManager(tmp_path) as m:
        with pytest.raises(
            tsx.training.CheckpointCorruptError, match="do not match the checksum"
        ):
            m.restore(_state(), step=2)


def test_rotation_never_keeps_a_corrupt_step_over_a_good_one(tmp_path):
    # The failure this prevents: resumed from step 2 after step 3 was found
    # corrupt, two new saves with max_to_keep=2 would otherwise delete step 2
    # and keep the corrupt step 3.
    states = _states(5)
    _write(tmp_path, states[:3], max_to_keep=2)
    data = _files(tmp_path / "3" / "state")
    for path in data:
        if "/d/" in str(path):
            _damage(path, "flip", 100)
    with tsx.training.CheckpointManager(tmp_path, max_to_keep=2, async_save=False) as m:
        with pytest.warns(UserWarning, match="checkpoint step 3 is corrupt"):
            restored = m.restore(_state())
        assert _equal(restored, states[1])
        assert m.all_steps() == [2]
        m.save(3, states[2])
        m.save(4, states[3])
        assert m.all_steps() == [3, 4]
        assert _equal(m.restore(_state()), states[3])


def test_another_optimizer_is_a_mismatch_not_corruption(tmp_path):
    _write(tmp_path, _states(1))
    with tsx.training.CheckpointManager(tmp_path) as m:
        with pytest.raises(tsx.training.CheckpointMismatchError) as err:
            m.restore(_state(tx=tsx.sgd(0.1, momentum=0.9)))
    message = str(err.value)
    assert "another training state" in message and "opt_state" in message
    assert "partial_restore" not in message and "\n" not in message
    # A different model size: named with both shapes.
    bigger = tsx.training.TrainState.create(
        apply_fn=None,
        params=jax.tree.map(
            lambda p: jnp.ones((*p.shape[:-1], p.shape[-1] + 1)), mlp_params()
        ),
        tx=TX,
        ema_decay=0.9,
        skip_nonfinite=True,
    )
    with tsx.training.CheckpointManager(tmp_path) as m:
        with pytest.raises(
            tsx.training.CheckpointMismatchError,
            match=r"bias is \(4,\) float32 in the checkpoint and \(5,\) float32",
        ):
            m.restore(bigger)


def test_a_non_finite_state_is_never_saved(tmp_path):
    state = _states(1)[0]
    bad = state.replace(
        params=jax.tree.map(lambda p: p.at[..., 0].set(jnp.nan), state.params)
    )
    with tsx.training.CheckpointManager(tmp_path, async_save=False) as m:
        with pytest.raises(
            tsx.training.NonFiniteStateError, match="not saving step 1.*params"
        ):
            m.save(1, bad)
        assert m.all_steps() == []


def test_no_checkpoint_is_a_file_not_found_error(tmp_path):
    with tsx.training.CheckpointManager(tmp_path) as m:
        with pytest.raises(FileNotFoundError, match="no checkpoint"):
            m.restore(_state())


TWO_PROCESSES = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    jax.distributed.initialize(f"127.0.0.1:{sys.argv[1]}", 2, int(sys.argv[2]))
    import tsx

    mesh = jax.make_mesh((4,), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    values = np.arange(32.0).reshape(8, 4)
    w = jax.make_array_from_callback(values.shape, sharding, lambda i: values[i])
    step = jax.device_put(jnp.asarray(7), NamedSharding(mesh, P()))
    state = {"w": w, "step": step}
    with tsx.training.CheckpointManager(sys.argv[3], async_save=False) as m:
        m.save(7, state)
        restored = m.restore(state)
    local = [np.asarray(s.data) for s in restored["w"].addressable_shards]
    want = [values[s.index] for s in restored["w"].addressable_shards]
    print(json.dumps({"equal": all(np.array_equal(a, b) for a, b in zip(local, want)),
                      "steps": m.all_steps()}))
    """
)


def test_two_processes_save_and_restore_a_sharded_state(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_PROCESSES, port, str(i), str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert result == {"equal": True, "steps": [7]}
