"""Trains the MNIST CNN with a tsx optimizer.

    python -m examples.mnist.main --workdir=/tmp/mnist \\
        --config=examples/mnist/configs/default.py --config.data_dir=/path/to/mnist

``--config.data_dir`` (or the ``MNIST_DIR`` environment variable) is any folder
holding the four MNIST IDX files; without it TFDS downloads MNIST. Rerunning
the command resumes from the last checkpoint in ``--workdir``. A bad flag,
config value, data file or workdir stops the run with one line and exit code 1.
"""

import os

# Before TensorFlow loads (CLU's TensorBoard writer, TFDS): no start-up banner.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import ast  # noqa: E402
import logging as pylogging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import tsx  # noqa: E402
from examples.mnist import input_pipeline, train  # noqa: E402

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
        str(Path(__file__).parent / "configs" / "default.py"),
        "Training configuration file.",
        lock_config=True,
    )
except BAD_COMMAND as err:
    sys.exit(f"error: bad command line: {_one_line(err)}")
flags.mark_flags_as_required(["workdir"])


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a misspelt config key or bad value as one line."""
    try:
        return FLAGS(argv)
    except BAD_COMMAND as err:
        sys.exit(f"error: bad command line: {_one_line(err)}")


def _own_info_only(record: pylogging.LogRecord) -> bool:
    """Warnings from everything, INFO lines from this example alone."""
    return record.levelno >= pylogging.WARNING or "examples/mnist" in record.pathname


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    logging.get_absl_handler().addFilter(_own_info_only)
    config, workdir = FLAGS.config, Path(FLAGS.workdir)
    try:
        train.check_config(config)  # before any data or file is touched
        state, history = train.train_and_evaluate(config, str(workdir))
    except train.Interrupted as stop:
        print(stop, flush=True)
        sys.exit(128 + stop.signum)
    except (train.ConfigError, input_pipeline.DataError) as err:
        sys.exit(f"error: {_one_line(err)}")
    except OSError as err:
        where = err.filename or workdir
        sys.exit(f"error: cannot write to the workdir {where}: {err.strerror or err}")
    except tsx.training.CheckpointError as err:
        sys.exit(f"error: {_one_line(err)}; use a new --workdir to start afresh")
    if not history:
        logging.info("Nothing to do: %s already holds %d steps.", workdir, state.step)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
