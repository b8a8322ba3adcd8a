"""MNIST input pipeline: the four IDX files of the original distribution, or TFDS.

The data comes from the first of:

* ``config.data_dir`` (or the ``MNIST_DIR`` environment variable): a folder
  holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (gzipped or not),
  the full 60,000/10,000 images or any subset;
* the TFDS ``mnist`` dataset, downloaded on first use.

Either way the images are held in memory as ``uint8`` ``[N, 28, 28, 1]``
(MNIST is 55 MB). Each epoch is a permutation seeded by ``(seed, epoch)``, so
a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import ml_collections
import numpy as np

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
Split = tuple[np.ndarray, np.ndarray]  # images [N, 28, 28, 1] uint8, labels [N]


class DataError(Exception):
    """The data cannot be read; the message names the file or what to pass."""


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (LeCun et al., 1998): a big-endian header, then uint8 values.

    The header is two zero bytes, the type ``0x08`` (unsigned byte), the
    number of dimensions ``d`` and ``d`` big-endian ``uint32`` sizes.
    """
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # unreadable, truncated or bad gzip
        raise DataError(f"cannot read {path}: {err}") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim].ljust(4 * ndim, b"\0"))
    payload = raw[4 + 4 * ndim :]
    if len(payload) != int(np.prod(shape)):
        raise DataError(
            f"{path} is truncated or damaged: its header promises {shape} "
            f"values, it holds {len(payload)} bytes"
        )
    return np.frombuffer(payload, np.uint8).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(
        f"{folder} has no {stem}.gz (or {stem}); it needs the four MNIST IDX files "
        f"{', '.join(f + '.gz' for pair in IDX_FILES.values() for f in pair)}"
    )


def load_split(folder: Path, split: str) -> Split:
    images_file, labels_file = (_find(folder, stem) for stem in IDX_FILES[split])
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{images_file} and {labels_file} do not hold matching images and labels"
        )
    return images[..., None], labels.astype(np.int32)


def _offline(tfds_data_dir: str | None) -> bool:
    """No prepared TFDS copy, no proxy and no route to the download host."""
    tfds_dir = tfds_data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    if any(Path(tfds_dir).expanduser().glob("mnist/*/dataset_info.json")):
        return False
    try:  # fails at once offline, where a download would retry for minutes
        socket.getaddrinfo("storage.googleapis.com", 443)
    except OSError:
        return not (os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"))
    return False


def _from_tfds(tfds_data_dir: str | None) -> tuple[dict[str, Split], str]:
    advice = "pass --config.data_dir=FOLDER holding the four MNIST IDX files"
    if _offline(tfds_data_dir):
        raise DataError(
            f"no data: offline and no --config.data_dir (or MNIST_DIR); {advice}"
        )
    import tensorflow_datasets as tfds  # only on this path

    try:
        splits = tfds.load(
            "mnist", split=["train", "test"], batch_size=10_000, data_dir=tfds_data_dir
        )
        data = {}
        for name, split in zip(("train", "test"), splits, strict=True):
            batches = list(tfds.as_numpy(split))
            data[name] = tuple(
                np.concatenate([b[k] for b in batches]).astype(dtype)
                for k, dtype in (("image", np.uint8), ("label", np.int32))
            )
    except Exception as err:  # noqa: BLE001 - any failure to download or prepare
        first = str(err).splitlines()[0][:120]
        raise DataError(f"TFDS could not provide MNIST ({first}); {advice}") from None
    return data, "TFDS mnist"


def _subset(split: Split, size: int, seed: int) -> Split:
    # A random subset: the local sample is sorted by class.
    if not size or size >= len(split[1]):
        return split
    keep = np.sort(np.random.default_rng(seed).permutation(len(split[1]))[:size])
    return split[0][keep], split[1][keep]


def load(config: ml_collections.ConfigDict) -> tuple[dict[str, Split], str]:
    """``({"train": split, "test": split}, description of the source)``."""
    folder = config.data_dir or os.environ.get("MNIST_DIR")
    if folder:
        folder = Path(folder).expanduser()
        data = {split: load_split(folder, split) for split in IDX_FILES}
        source = f"IDX files in {folder}"
    else:
        data, source = _from_tfds(config.tfds_data_dir)
    data["train"] = _subset(data["train"], config.max_train_examples, config.seed)
    data["test"] = _subset(data["test"], config.max_eval_examples, config.seed)
    return data, source


def _batch(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    return {"image": images.astype(np.float32) / 255.0, "label": labels}


def train_batches(
    split: Split, batch_size: int, seed: int, epoch: int
) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of shuffled full batches (the last partial batch is dropped)."""
    order = np.random.default_rng([seed, epoch]).permutation(len(split[1]))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        take = order[start : start + batch_size]
        yield _batch(split[0][take], split[1][take])


def test_batches(split: Split, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Every example once, in order (the last batch may be smaller)."""
    for start in range(0, len(split[1]), batch_size):
        yield _batch(*(a[start : start + batch_size] for a in split))
