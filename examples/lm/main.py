"""Trains a byte-level transformer language model with tsx.

    python -m examples.lm.main --workdir=/tmp/lm \\
        --config.data_dir=../shared/data/pystdlib-chars

``--config.data_dir`` is a folder with ``train.txt(.gz)`` and
``valid.txt(.gz)``; without it TFDS downloads ``tiny_shakespeare``. All local
devices form a data-parallel mesh; ``--config.zero_axis=data`` also splits the
optimizer state over them. Several hosts: run the same command on each with
``--distributed``. Rerunning the command resumes from the last checkpoint in
``--workdir``; Ctrl-C (or SIGTERM) saves the step it is at and says so. A bad
flag, config value or data folder stops the run with one line and exit code 1.

A trained model, from the same ``--workdir`` and configuration:

    python -m examples.lm.main --workdir=/tmp/lm --config.mode=sample \\
        --config.prompt='def main(' --config.num_samples=3 --config.top_k=40
    python -m examples.lm.main --workdir=/tmp/lm --config.mode=eval \\
        --config.data_dir=../shared/data/pystdlib-chars

An optimizer's own arguments are fields of ``optimizer_kwargs``:
``--config.optimizer=soap --config.optimizer_kwargs.precondition_frequency=5``.
The configuration a run was started with is in ``<workdir>/config.json``.
"""

import os

# Before TensorFlow loads (CLU's TensorBoard writer, TFDS): no start-up banner.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import ast  # noqa: E402
import logging as pylogging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import tsx  # noqa: E402
from examples.lm import input_pipeline, train  # noqa: E402

BAD_COMMAND = (flags.Error, AttributeError, KeyError, TypeError, ValueError)


def _one_line(err: BaseException) -> str:
    """The error's message as one sentence, without Python's string quoting."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = str(text)
    # A KeyError's str() is the repr of its message, also when another error
    # (absl's flag errors) wraps it: undo the quoting.
    while len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        try:
            text = str(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            break
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!")) else text + "."


def _config_fields() -> str:
    """``--config.<field>`` for every field of the default config, with its value."""
    from examples.lm.configs import default

    def lines(config, prefix):
        for key, value in sorted(config.items()):
            if hasattr(value, "items"):
                yield from lines(value, f"{prefix}{key}.")
            else:
                yield f"  --config.{prefix}{key}  (default: {value!r})"

    return "\n".join(lines(default.get_config(), ""))


__doc__ += "\nConfig fields (examples/lm/configs/default.py):\n\n" + _config_fields()

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Folder for checkpoints and TensorBoard logs.")
flags.DEFINE_bool("distributed", False, "Join the other hosts (jax.distributed).")
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
    try:
        return FLAGS(argv)
    except BAD_COMMAND as err:
        sys.exit(f"error: bad command line: {_one_line(err)}")


def _own_info_only(record: pylogging.LogRecord) -> bool:
    """Warnings from everything; INFO lines from this example and CLU's
    progress notes (steps/s, time left), not every TensorBoard write."""
    info_from = ("examples/lm", "/clu/platform/")
    return record.levelno >= pylogging.WARNING or any(
        part in record.pathname for part in info_from
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    logging.get_absl_handler().addFilter(_own_info_only)
    if FLAGS.distributed:
        jax.distributed.initialize()
    config = FLAGS.config
    run = {
        "train": train.train_and_evaluate,
        "sample": train.sample_from_workdir,
        "eval": train.eval_from_workdir,
    }
    try:
        train.check_config(config)  # before any data or file is touched
        run[config.mode](config, FLAGS.workdir)
    except train.Interrupted as stop:
        print(stop, flush=True)
        sys.exit(128 + stop.signum)
    except (train.ConfigError, input_pipeline.DataError) as err:
        sys.exit(f"error: {_one_line(err)}")
    except OSError as err:
        sys.exit(f"error: cannot write to the workdir {err.filename or FLAGS.workdir}.")
    except tsx.training.CheckpointMismatchError as err:
        saved = Path(FLAGS.workdir).expanduser().absolute() / "config.json"
        sys.exit(f"error: {_one_line(err)} Its configuration is in {saved}.")
    except tsx.training.CheckpointError as err:
        sys.exit(f"error: {_one_line(err)} Use a new --workdir to start afresh.")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
