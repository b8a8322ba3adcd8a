"""Text as bytes, random training windows per step, fixed validation windows.

``config.data_dir``: a folder with ``train.txt`` and ``valid.txt`` (or
``.txt.gz``), e.g. ``../shared/data/pystdlib-chars``. Without it, TFDS's
``tiny_shakespeare`` (downloaded once). Training windows come from a
generator seeded with ``(config.seed, step)``: a resumed run reads exactly
the windows the uninterrupted run would have.
"""

import gzip
import os
import socket
from pathlib import Path

import ml_collections
import numpy as np


class DataError(ValueError):
    """No usable text (the message says what to do)."""


def _read(folder: Path, name: str) -> np.ndarray:
    for path in (folder / f"{name}.txt", folder / f"{name}.txt.gz"):
        if path.exists():
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                return np.frombuffer(f.read(), np.uint8)
    raise DataError(f"config.data_dir={str(folder)!r} has no {name}.txt(.gz)")


_ADVICE = (
    "set --config.data_dir to a folder with train.txt(.gz) and valid.txt(.gz), "
    "e.g. ../shared/data/pystdlib-chars"
)


def _offline() -> bool:
    """No prepared TFDS copy, no proxy and no route to the download host."""
    tfds_dir = os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    if any(Path(tfds_dir).expanduser().glob("tiny_shakespeare/*/dataset_info.json")):
        return False
    try:  # fails at once offline, where a download would retry for minutes
        socket.getaddrinfo("storage.googleapis.com", 443)
    except OSError:
        return not (os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"))
    return False


def _tfds() -> tuple[np.ndarray, np.ndarray]:
    if _offline():
        raise DataError(f"no data: offline and no --config.data_dir; {_ADVICE}")
    try:
        import tensorflow_datasets as tfds

        splits = tfds.load("tiny_shakespeare", batch_size=-1, as_supervised=False)
        text = {k: tfds.as_numpy(v)["text"][0] for k, v in splits.items()}
    except Exception as err:  # offline, TFDS missing, a broken download
        message = f"cannot load TFDS tiny_shakespeare ({err}); {_ADVICE}"
        raise DataError(message) from err
    return (
        np.frombuffer(text["train"], np.uint8),
        np.frombuffer(text["validation"], np.uint8),
    )


def load(config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray, str]:
    """``(train bytes, valid bytes, description)``; bytes must be < vocab."""
    if config.data_dir:
        folder = Path(config.data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"config.data_dir={config.data_dir!r} is not a folder")
        train, valid, source = _read(folder, "train"), _read(folder, "valid"), folder
    else:
        (train, valid), source = _tfds(), "TFDS tiny_shakespeare"
    for name, text in (("train", train), ("valid", valid)):
        if len(text) <= config.context + 1:
            raise DataError(f"the {name} text of {source} is shorter than a window")
        if int(text.max()) >= config.vocab:
            raise DataError(
                f"the {name} text of {source} has byte {int(text.max())}, "
                f">= config.vocab={config.vocab}"
            )
    return train, valid, f"{source} ({len(train):,} / {len(valid):,} bytes)"


def windows(text: np.ndarray, starts: np.ndarray, context: int) -> np.ndarray:
    """``(len(starts), context + 1)`` windows: inputs and next-byte targets."""
    return text[starts[:, None] + np.arange(context + 1)].astype(np.int32)


def train_batch(text: np.ndarray, step: int, config) -> np.ndarray:
    """The training windows of ``step`` (the same for a resumed run)."""
    rng = np.random.default_rng([config.seed, step])
    starts = rng.integers(0, len(text) - config.context - 1, size=config.batch_size)
    return windows(text, starts, config.context)


def valid_batches(text: np.ndarray, config) -> list[np.ndarray]:
    """``config.eval_batches`` fixed batches of validation windows."""
    rng = np.random.default_rng(0)
    shape = (config.eval_batches, config.batch_size)
    starts = rng.integers(0, len(text) - config.context - 1, size=shape)
    return [windows(text, row, config.context) for row in starts]
