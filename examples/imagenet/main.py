"""Trains a ResNet on ImageNet with tsx (see README.md).

    python -m examples.imagenet.main --workdir=/tmp/imagenet \
        --config=examples/imagenet/configs/default.py

Rerunning the same command resumes from the last checkpoint in ``--workdir``.
Any config field can be overridden, e.g. ``--config.batch_size=512``.

Several hosts (a TPU pod slice, a GPU cluster): run the same command on every
host with ``--distributed`` (``jax.distributed.initialize`` finds the cluster
on Cloud TPU, SLURM, Open MPI and Kubernetes), or name the coordinator
yourself with ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I``.
"""

import os

# Before TensorFlow is imported (by the input pipeline): keep its C++ start-up
# chatter off the console; TF only feeds data here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging as pylogging  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from examples.imagenet import train  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Folder for checkpoints and TensorBoard logs.")
config_flags.DEFINE_config_file(
    "config",
    str(Path(__file__).resolve().parent / "configs" / "default.py"),
    "Training configuration file (default: configs/default.py).",
    lock_config=True,
)
flags.DEFINE_bool(
    "distributed",
    False,
    "Join the other hosts with jax.distributed.initialize() (cluster auto-detected).",
)
flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0 (implies --distributed)."
)
flags.DEFINE_integer("num_processes", None, "Number of processes (hosts).")
flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")
flags.mark_flags_as_required(["workdir"])


class _DropOrbaxInfo(pylogging.Filter):
    """Keeps Orbax's warnings but not its INFO lines (dozens per checkpoint)."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        return record.levelno >= pylogging.WARNING or "/orbax/" not in record.pathname


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")

    if FLAGS.coordinator_address:
        jax.distributed.initialize(
            coordinator_address=FLAGS.coordinator_address,
            num_processes=FLAGS.num_processes,
            process_id=FLAGS.process_id,
        )
    elif FLAGS.distributed:
        jax.distributed.initialize()

    logging.get_absl_handler().addFilter(_DropOrbaxInfo())
    # TF must not claim an accelerator that JAX is going to use.
    tf.config.experimental.set_visible_devices([], "GPU")
    logging.info(
        "JAX process %d of %d; %d local devices of %d: %r",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
        jax.local_devices(),
    )
    logging.info("Config:\n%s", FLAGS.config)
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
