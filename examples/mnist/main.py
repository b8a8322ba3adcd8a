"""Trains the MNIST CNN with a tsx optimizer.

    python -m examples.mnist.main --workdir=/tmp/mnist \
        --config=examples/mnist/configs/default.py \
        --config.data_dir=../shared/data/mnist-5k

Rerunning the same command resumes from the last checkpoint in ``--workdir``.
Any config field can be overridden, e.g. ``--config.learning_rate=0.05``.
"""

import os

# Before TensorFlow is imported (by the input pipeline): keep its C++ start-up
# chatter off the console; TF only feeds data here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging as pylogging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from examples.mnist import input_pipeline, train  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Folder for checkpoints and TensorBoard logs.")
config_flags.DEFINE_config_file(
    "config",
    str(Path(__file__).resolve().parent / "configs" / "default.py"),
    "Training configuration file (default: configs/default.py).",
    lock_config=True,
)
flags.mark_flags_as_required(["workdir"])


class _DropOrbaxInfo(pylogging.Filter):
    """Keeps Orbax's warnings but not its INFO lines (about 30 per checkpoint)."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        return record.levelno >= pylogging.WARNING or "/orbax/" not in record.pathname


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")

    logging.get_absl_handler().addFilter(_DropOrbaxInfo())
    # TF must not claim an accelerator that JAX is going to use.
    tf.config.experimental.set_visible_devices([], "GPU")
    logging.info("JAX devices: %r", jax.devices())
    logging.info("Config:\n%s", FLAGS.config)

    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except (input_pipeline.DataUnavailableError, train.CheckpointMismatchError) as e:
        # A usage problem, not a bug: the message says what to do; no traceback.
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
