"""Trains a ResNet on ImageNet with tsx (see README.md).

    python -m examples.imagenet.main --workdir=/tmp/imagenet \
        --config=examples/imagenet/configs/default.py

Rerunning the same command resumes from the last checkpoint in ``--workdir``.
Any config field can be overridden, e.g. ``--config.batch_size=512``. A bad
flag, config value, data set or workdir stops the run with one line and exit
code 1, before any file is written.

Several hosts (a TPU pod slice, a GPU cluster): run the same command on every
host with ``--distributed`` (``jax.distributed.initialize`` finds the cluster
on Cloud TPU, SLURM, Open MPI and Kubernetes), or name the coordinator
yourself with ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I``.
"""

import os

# Before TensorFlow is imported (by the input pipeline): keep its C++ start-up
# chatter and oneDNN banner off the console; TF only feeds data here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import ast  # noqa: E402
import logging as pylogging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import tsx  # noqa: E402
from examples.imagenet import input_pipeline, train  # noqa: E402

BAD_COMMAND = (flags.Error, AttributeError, KeyError, TypeError, ValueError)


def _one_line(err: BaseException) -> str:
    text = str(err)
    while text[:1] in ("'", '"') and text[:1] == text[-1:]:
        try:  # a KeyError's message is the repr of a str, sometimes twice
            text = str(ast.literal_eval(text))
        except (SyntaxError, ValueError):
            break
    return " ".join(text.split())


FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Folder for checkpoints and TensorBoard logs.")
try:  # config_flags applies --config.* overrides already here
    config_flags.DEFINE_config_file(
        "config",
        str(Path(__file__).resolve().parent / "configs" / "default.py"),
        "Training configuration file (default: configs/default.py).",
        lock_config=True,
    )
except BAD_COMMAND as err:
    sys.exit(f"error: bad command line: {_one_line(err)}")
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


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a misspelt config key or bad value as one line."""
    try:
        return FLAGS(argv)
    except BAD_COMMAND as err:
        sys.exit(f"error: bad command line: {_one_line(err)}")


def _own_and_clu_info(record: pylogging.LogRecord) -> bool:
    """Warnings from everything; INFO lines from this example and CLU only."""
    info_from = ("examples/imagenet", "/clu/")
    return record.levelno >= pylogging.WARNING or any(
        part in record.pathname for part in info_from
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")

    if FLAGS.coordinator_address:
        jax.distributed.initialize(
            coordinator_address=FLAGS.coordinator_address,
            num_processes=FLAGS.num_processes,
            process_id=FLAGS.process_id,
        )
    elif FLAGS.distributed:
        jax.distributed.initialize()

    logging.get_absl_handler().addFilter(_own_and_clu_info)
    # TF must not claim an accelerator that JAX is going to use.
    tf.config.experimental.set_visible_devices([], "GPU")
    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except train.Interrupted as stop:
        print(stop, flush=True)
        sys.exit(128 + stop.signum)
    except (train.ConfigError, input_pipeline.DataError) as err:
        sys.exit(f"error: {_one_line(err)}")
    except OSError as err:
        where = err.filename or FLAGS.workdir
        sys.exit(f"error: cannot write to the workdir {where}: {err.strerror or err}")
    except tsx.training.CheckpointError as err:
        sys.exit(f"error: {_one_line(err)}; use a new --workdir to start afresh")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
