"""MNIST input pipeline: TFDS or local IDX files, then one shared ``tf.data`` path.

Two sources feed the same pipeline:

* ``config.data_dir`` unset: the TFDS ``mnist`` dataset (downloaded and prepared
  on first use, into ``config.tfds_data_dir`` or TFDS's default folder).
* ``config.data_dir=DIR``: the four files of the original distribution
  (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
  ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``; the ``.gz``
  suffix is optional), either the full 60,000/10,000 images or any subset.

Both are read into memory as ``uint8`` images of shape ``[N, 28, 28, 1]`` and
integer labels (MNIST is 55 MB in all), and from there the path is identical:
a shuffle seeded by ``(seed, epoch)`` so that every epoch has its own order and
a resumed run sees exactly the order an uninterrupted one would, batching,
scaling pixels to ``[0, 1]`` and prefetching.

Without ``data_dir``, with TFDS's copy not prepared and no route to the
download server, :func:`get_datasets` raises :class:`DataUnavailableError`
at once with a message saying how to pass local files, instead of letting the
TFDS download fail after retries with a long stack trace.
"""

from __future__ import annotations

import dataclasses
import gzip
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
import tensorflow as tf

__all__ = [
    "DataUnavailableError",
    "IDX_FILES",
    "MnistData",
    "download_server_reachable",
    "epoch_shuffle_seed",
    "get_datasets",
    "load_idx_split",
    "read_idx",
]

# File names of the original MNIST distribution, per split.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# The host TFDS downloads MNIST from; probing it tells "offline" from "online".
TFDS_MNIST_HOST = "storage.googleapis.com"

# IDX magic numbers: two zero bytes, a type code (0x08 = unsigned byte) and
# the number of dimensions.
_IDX_UBYTE = 0x08


class DataUnavailableError(RuntimeError):
    """The data cannot be obtained: no local files given and no way to download."""


def read_idx(path: str | Path) -> np.ndarray:
    """Reads one IDX file (gzip-compressed or not) into a ``uint8`` array.

    The format (LeCun et al., "Gradient-based learning applied to document
    recognition", 1998; http://yann.lecun.com/exdb/mnist/): a big-endian
    header of two zero bytes, a type byte, the number of dimensions ``d``,
    then ``d`` big-endian ``uint32`` sizes, then the raw values in C order.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    if raw[2] != _IDX_UBYTE:
        raise ValueError(f"{path}: IDX type 0x{raw[2]:02x} is not unsigned byte")
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=header_len)
    if data.size != int(np.prod(shape)):
        raise ValueError(
            f"{path}: header promises shape {shape} ({int(np.prod(shape))} values)"
            f" but the file holds {data.size}"
        )
    return data.reshape(shape)


def _find_idx(data_dir: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    raise DataUnavailableError(
        f"config.data_dir={str(data_dir)!r} has no {stem}.gz (or {stem}); it"
        " must hold the four MNIST IDX files: "
        + ", ".join(f"{s}.gz" for pair in IDX_FILES.values() for s in pair)
    )


def load_idx_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads ``split`` ("train" or "test") from IDX files in ``data_dir``.

    Returns ``uint8`` images of shape ``[N, 28, 28, 1]`` and ``int32`` labels.
    """
    data_dir = Path(data_dir).expanduser()
    images_stem, labels_stem = IDX_FILES[split]
    images = read_idx(_find_idx(data_dir, images_stem))
    labels = read_idx(_find_idx(data_dir, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{data_dir}: {split} images {images.shape} and labels {labels.shape}"
            " do not pair up as [N, rows, cols] and [N]"
        )
    return images[..., None], labels.astype(np.int32)


def _download_route() -> tuple[str, int]:
    """Where a download would first connect: the HTTPS proxy if one is set."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https") or proxies.get("all")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        if parts.hostname:
            default_port = 443 if parts.scheme == "https" else 80
            return parts.hostname, parts.port or default_port
    return TFDS_MNIST_HOST, 443


def download_server_reachable(
    host: str | None = None, port: int | None = None, timeout: float = 3.0
) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    By default ``host:port`` is TFDS's download server, or the HTTPS proxy
    when the environment names one (``https_proxy``, ``all_proxy``). Name
    resolution has no timeout of its own, so the probe runs in a daemon
    thread and is abandoned after ``timeout``: an offline machine is detected
    in at most that long, whatever its resolver does.
    """
    if host is None:
        host, default_port = _download_route()
        port = default_port if port is None else port
    port = 443 if port is None else port
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _offline_message(tfds_dir: str) -> str:
    return (
        "MNIST is not available: no --config.data_dir was given, TFDS has no"
        f" prepared copy in {tfds_dir}, and {TFDS_MNIST_HOST} cannot be reached"
        " to download one.\nPass a folder holding the four MNIST IDX files"
        " (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,"
        " t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), for example:\n"
        "  python -m examples.mnist.main --workdir=/tmp/mnist"
        " --config=examples/mnist/configs/default.py"
        " --config.data_dir=../shared/data/mnist-5k"
    )


def _load_tfds(tfds_data_dir: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    # Imported here so that the IDX path never pays for (or depends on) TFDS.
    import tensorflow_datasets as tfds

    builder = tfds.builder("mnist", data_dir=tfds_data_dir)
    # Checking for dataset_info.json first spares a TFDS warning when the
    # folder is simply empty.
    prepared = (builder.data_path / "dataset_info.json").exists() and (
        builder.is_prepared()
    )
    if not prepared and not download_server_reachable():
        raise DataUnavailableError(_offline_message(str(builder.data_dir_root)))
    builder.download_and_prepare()
    splits = {}
    for split in ("train", "test"):
        # Read in large batches and concatenated (batch_size=-1 is equivalent
        # but aborts inside TF on generator-backed datasets, e.g. under
        # tfds.testing.mock_data).
        chunks = list(
            builder.as_dataset(split=split, shuffle_files=False)
            .batch(10_000)
            .as_numpy_iterator()
        )
        splits[split] = (
            np.concatenate([c["image"] for c in chunks]).astype(np.uint8),
            np.concatenate([c["label"] for c in chunks]).astype(np.int32),
        )
    return splits


def _subset(
    images: np.ndarray, labels: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` examples of a fixed permutation (all if ``limit <= 0``).

    A permutation rather than a prefix because IDX subsets may be sorted by
    class (the mnist-5k sample is); the permutation is fixed (not the run's
    seed) so that every seed trains on the same examples.
    """
    if limit <= 0 or limit >= len(images):
        return images, labels
    keep = np.sort(np.random.default_rng(0).permutation(len(images))[:limit])
    return images[keep], labels[keep]


def _normalize(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {
        "image": tf.cast(batch["image"], tf.float32) / 255.0,
        "label": tf.cast(batch["label"], tf.int32),
    }


def epoch_shuffle_seed(seed: int, epoch: int) -> int:
    """A 31-bit shuffle seed derived from the run's ``seed`` and the ``epoch``."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


@dataclasses.dataclass
class MnistData:
    """In-memory MNIST splits and the ``tf.data`` pipelines over them."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    batch_size: int
    eval_batch_size: int
    seed: int
    source: str

    def __post_init__(self) -> None:
        if len(self.train_images) < self.batch_size:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the"
                f" {len(self.train_images)} training examples"
            )
        # Built once; each epoch only adds its own shuffle on top.
        self._train = tf.data.Dataset.from_tensor_slices(
            {"image": self.train_images, "label": self.train_labels}
        )
        self._test = tf.data.Dataset.from_tensor_slices(
            {"image": self.test_images, "label": self.test_labels}
        )

    @property
    def num_train(self) -> int:
        return len(self.train_images)

    @property
    def num_test(self) -> int:
        return len(self.test_images)

    @property
    def steps_per_epoch(self) -> int:
        # The last incomplete batch is dropped, so every step has the same shape.
        return self.num_train // self.batch_size

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        """Epoch ``epoch``'s batches (1-based), in an order fixed by seed and epoch."""
        ds = self._train.shuffle(
            self.num_train,
            seed=epoch_shuffle_seed(self.seed, epoch),
            reshuffle_each_iteration=False,
        )
        ds = ds.batch(self.batch_size, drop_remainder=True)
        ds = ds.map(_normalize, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def test_dataset(self) -> tf.data.Dataset:
        """The test split in order, in batches of ``eval_batch_size`` (last partial)."""
        ds = self._test.batch(self.eval_batch_size)
        ds = ds.map(_normalize, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def train_batches(self, epoch: int) -> Iterator[dict[str, Any]]:
        return self.train_dataset(epoch).as_numpy_iterator()

    def test_batches(self) -> Iterator[dict[str, Any]]:
        return self.test_dataset().as_numpy_iterator()


def get_datasets(config: ml_collections.ConfigDict) -> MnistData:
    """Loads MNIST as ``config`` says (``data_dir`` or TFDS) and wraps it.

    Raises:
      DataUnavailableError: no ``data_dir``, no prepared TFDS copy, and
        offline; or ``data_dir`` is not a folder holding the four IDX files.
    """
    if config.get("data_dir"):
        data_dir = Path(config.data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataUnavailableError(
                f"config.data_dir={str(data_dir)!r} is not a folder"
            )
        splits = {s: load_idx_split(data_dir, s) for s in ("train", "test")}
        source = f"IDX files in {data_dir}"
    else:
        splits = _load_tfds(config.get("tfds_data_dir"))
        source = "TFDS mnist"
    train_images, train_labels = _subset(
        *splits["train"], config.get("max_train_examples", 0)
    )
    test_images, test_labels = _subset(
        *splits["test"], config.get("max_eval_examples", 0)
    )
    return MnistData(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size,
        seed=config.seed,
        source=source,
    )
