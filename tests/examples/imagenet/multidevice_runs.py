"""Runs of the ImageNet example on several (forced) CPU devices, in a subprocess.

The device count of a JAX process is fixed when JAX starts, so the tests run
these in fresh interpreters (``test_train.py`` sets ``XLA_FLAGS``):

* ``python -m tests.examples.imagenet.multidevice_runs eight_devices OUT``:
  with 8 devices, on TFDS mock data, (1) an uninterrupted run; (2) the same
  run stopped by SIGTERM and (3) resumed; (4) a run on one fixed (fake)
  batch. Writes ``OUT/result.json`` with what the test checks.
* ``... two_processes OUT PROCESS_ID PORT``: one of two processes joined by
  ``jax.distributed`` (4 devices each); writes its final parameters, gathered
  from every device of both processes, to ``OUT/params_<id>.npz``.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

NUM_EXAMPLES = 64  # mock examples per split: 4 steps of 16 per epoch
CPU_SMOKE = "examples/imagenet/configs/cpu_smoke.py"

# Changes to configs/cpu_smoke.py shared by every run here (the runs then
# compile the same programs, which the persistent compilation cache shares).
OVERRIDES = {
    "num_train_examples": NUM_EXAMPLES,
    "num_eval_examples": NUM_EXAMPLES,
    "steps_per_eval": -1,
    "num_train_steps": 6,  # crosses an epoch boundary (4 steps per epoch)
    "log_every_steps": 1,
    "eval_every_steps": 6,
    "checkpoint_every_steps": 100,  # only at the end (or on SIGTERM)
    "base_batch_size": 0,  # learning rate 0.1 at batch 16: visible progress
    "ema_decay": 0.9,
    "state_sharding": "sharded",
    "shard_min_size": 1024,
}


def config(**extra):
    """The CPU smoke config on TFDS mock data, state sharded over the devices."""
    from examples.imagenet.configs import cpu_smoke

    cfg = cpu_smoke.get_config()
    cfg.update(fake_data=False, **OVERRIDES)
    cfg.update(extra)
    return cfg


def _scalars(workdir, tag):
    """``{step: value}`` of one scalar in the TensorBoard events of ``workdir``."""
    import tensorflow as tf

    values = {}
    for path in Path(workdir).glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag == tag:
                    values[event.step] = float(tf.make_ndarray(v.tensor))
    return values


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _state_arrays(state):
    return {
        "params": _leaves(state.params),
        "batch_stats": _leaves(state.batch_stats),
        "ema": _leaves((state.ema_params, state.ema_batch_stats)),
        "opt_state": _leaves(state.opt_state),
        "step": _leaves(state.step),
    }


def _event_tags(workdir):
    import tensorflow as tf

    tags = set()
    for path in Path(workdir).glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return sorted(tags)


def eight_devices(out):
    import tensorflow_datasets as tfds

    import tsx
    from examples.imagenet import input_pipeline, train

    out = Path(out)
    result = {"device_count": jax.device_count()}
    with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
        full, full_history = train.train_and_evaluate(config(), str(out / "full"))
        saved = json.loads((out / "full" / "config.json").read_text())
        result["saved_config_num_train_steps"] = saved.get("num_train_steps")
        result["full_workdir_losses"] = _scalars(out / "full", "train_loss")
        result["full_history"] = full_history
        result["event_tags"] = _event_tags(out / "full")
        result["checkpoints_full"] = sorted(
            p.name for p in (out / "full" / "checkpoints").iterdir()
        )
        result["param_specs"] = {
            "/".join(str(k.key) for k in path): str(leaf.sharding.spec)
            for path, leaf in jax.tree_util.tree_leaves_with_path(full.params)
        }
        result["opt_state_specs"] = sorted(
            {str(x.sharding.spec) for x in jax.tree.leaves(full.opt_state)}
        )

        # The same run, sent SIGTERM while the loop asks for its 4th batch.
        original = input_pipeline.TfdsInput.train_batches

        def train_batches_then_sigterm(self, start_step=0):
            for i, batch in enumerate(original(self, start_step)):
                if i == 3:
                    os.kill(os.getpid(), signal.SIGTERM)
                yield batch

        input_pipeline.TfdsInput.train_batches = train_batches_then_sigterm
        try:
            train.train_and_evaluate(config(), str(out / "resumed"))
            raise AssertionError("SIGTERM did not stop the run")
        except train.Interrupted as stop:
            result["stopped_step"] = stop.step
            result["interrupted_line"] = str(stop)
        input_pipeline.TfdsInput.train_batches = original
        result["checkpoints_after_sigterm"] = sorted(
            p.name for p in (out / "resumed" / "checkpoints").iterdir()
        )
        # Rerunning the command resumes from the SIGTERM checkpoint.
        resumed, resumed_history = train.train_and_evaluate(
            config(), str(out / "resumed")
        )
        result["resumed_history"] = resumed_history
        # Once more: nothing is left to train; the final state is restored.
        again, again_history = train.train_and_evaluate(config(), str(out / "resumed"))
        result["again_history"] = again_history
        result["again_step"] = int(again.step)
        # A config whose state has another structure (no EMA) is refused.
        try:
            train.train_and_evaluate(config(ema_decay=0.0), str(out / "resumed"))
            result["mismatch_error"] = None
        except tsx.training.CheckpointMismatchError as e:
            result["mismatch_error"] = str(e)

    full_arrays, resumed_arrays = _state_arrays(full), _state_arrays(resumed)
    result["resumed_equals_full"] = {
        name: all(
            a.shape == b.shape and np.array_equal(a, b)
            for a, b in zip(full_arrays[name], resumed_arrays[name], strict=True)
        )
        for name in full_arrays
    }
    result["resumed_max_param_diff"] = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(full_arrays["params"], resumed_arrays["params"], strict=True)
    )

    # One fixed batch (configs/cpu_smoke.py serves fake data), through the
    # command line.
    from examples.imagenet import main

    argv = ["main", f"--workdir={out / 'fixed'}", f"--config={CPU_SMOKE}"] + [
        f"--config.{k}={v}" for k, v in OVERRIDES.items()
    ]
    sys.argv = argv  # config_flags reads the overrides from sys.argv
    main.FLAGS(argv)
    main.main(["main"])
    result["fixed_batch_losses"] = _scalars(out / "fixed", "train_loss")
    (out / "result.json").write_text(json.dumps(result))


def two_processes(out, process_id, port):
    import tensorflow_datasets as tfds
    from jax.experimental import multihost_utils

    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=int(process_id),
    )
    from examples.imagenet import train

    out = Path(out)
    with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
        state, history = train.train_and_evaluate(
            config(num_train_steps=3, eval_every_steps=3), str(out / "workdir")
        )
    gathered = multihost_utils.process_allgather(state.params, tiled=True)
    flat = {
        "/".join(str(k.key) for k in path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(gathered)
    }
    np.savez(out / f"params_{process_id}.npz", **flat)
    info = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "history": history,
        "step": int(multihost_utils.process_allgather(state.step, tiled=True)),
        "sharded_leaves": sum(
            not x.sharding.is_fully_replicated for x in jax.tree.leaves(state.params)
        ),
    }
    (out / f"info_{process_id}.json").write_text(json.dumps(info))
    jax.distributed.shutdown()


if __name__ == "__main__":
    {"eight_devices": eight_devices, "two_processes": two_processes}[sys.argv[1]](
        *sys.argv[2:]
    )
