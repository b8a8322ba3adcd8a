"""The MNIST input pipeline: IDX reading, seeded per-epoch order, offline error."""

import gzip
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from examples.mnist import input_pipeline
from examples.mnist.configs import default
from tests.examples.mnist.conftest import REPO_ROOT


def _write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_a_hand_built_file(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    _write_idx(path, array, compress)
    np.testing.assert_array_equal(input_pipeline.read_idx(path), array)


def test_read_idx_rejects_a_bad_magic_number_and_a_short_payload(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="magic"):
        input_pipeline.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))  # promises 5, holds 2
    with pytest.raises(ValueError, match="holds 2"):
        input_pipeline.read_idx(short)


def test_real_sample_loads_with_the_documented_shapes_and_classes(mnist_5k_dir):
    train_images, train_labels = input_pipeline.load_idx_split(mnist_5k_dir, "train")
    test_images, test_labels = input_pipeline.load_idx_split(mnist_5k_dir, "test")
    assert train_images.shape == (5000, 28, 28, 1)
    assert train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28, 1)
    # The sample's README: 500 images per class; the official test set's counts.
    np.testing.assert_array_equal(np.bincount(train_labels), [500] * 10)
    np.testing.assert_array_equal(
        np.bincount(test_labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    )


def _epoch_labels(data, epoch):
    return np.concatenate([b["label"] for b in data.train_batches(epoch)])


def test_each_epoch_is_a_seeded_permutation_of_normalized_batches(small_config):
    data = input_pipeline.get_datasets(small_config)
    assert (data.num_train, data.num_test) == (640, 500)
    batches = list(data.train_batches(1))
    assert len(batches) == data.steps_per_epoch == 640 // 32
    first = batches[0]
    assert first["image"].shape == (32, 28, 28, 1)
    assert first["image"].dtype == np.float32
    assert 0.0 <= first["image"].min() and first["image"].max() <= 1.0
    # Pixel values are the uint8 ones over 255: find the batch's first image.
    flat = data.train_images.reshape(640, -1).astype(np.float32) / 255.0
    matches = np.flatnonzero((flat == first["image"][0].ravel()).all(axis=1))
    assert len(matches) >= 1

    # Every example once per epoch (640 is a multiple of 32: nothing dropped).
    labels1 = _epoch_labels(data, 1)
    np.testing.assert_array_equal(np.sort(labels1), np.sort(data.train_labels))
    # Same seed and epoch: same order (what makes resuming exact) ...
    np.testing.assert_array_equal(_epoch_labels(data, 1), labels1)
    again = input_pipeline.get_datasets(small_config)
    np.testing.assert_array_equal(_epoch_labels(again, 1), labels1)
    # ... another epoch or another seed: another order.
    assert not np.array_equal(_epoch_labels(data, 2), labels1)
    small_config.seed = 1
    other_seed = input_pipeline.get_datasets(small_config)
    assert not np.array_equal(_epoch_labels(other_seed, 1), labels1)


def test_subset_of_the_class_sorted_sample_covers_every_class(small_config):
    data = input_pipeline.get_datasets(small_config)
    counts = np.bincount(data.train_labels, minlength=10)
    assert counts.sum() == 640
    assert counts.min() >= 30  # a prefix would be all zeros


def test_test_batches_cover_the_split_in_order(small_config):
    data = input_pipeline.get_datasets(small_config)
    labels = np.concatenate([b["label"] for b in data.test_batches()])
    np.testing.assert_array_equal(labels, data.test_labels)


def test_missing_idx_file_names_the_folder_and_the_files(tmp_path):
    config = default.get_config()
    config.data_dir = str(tmp_path)
    with pytest.raises(input_pipeline.DataUnavailableError, match="train-images"):
        input_pipeline.get_datasets(config)


def test_probe_sees_a_listening_port_and_a_closed_one():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert input_pipeline.download_server_reachable("127.0.0.1", port, 2.0)
    # Nothing listens on the port once the server is closed.
    assert not input_pipeline.download_server_reachable("127.0.0.1", port, 2.0)


def test_offline_without_data_dir_raises_before_any_download(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_download(*args, **kwargs):
        raise AssertionError("download_and_prepare must not be attempted offline")

    monkeypatch.setattr(input_pipeline, "download_server_reachable", lambda: False)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    config = default.get_config()
    config.tfds_data_dir = str(tmp_path / "tfds")
    with pytest.raises(input_pipeline.DataUnavailableError) as info:
        input_pipeline.get_datasets(config)
    message = str(info.value)
    assert "--config.data_dir=" in message
    assert "train-images-idx3-ubyte.gz" in message


# Runs main.py as a user would, with every outgoing connection refused.
_OFFLINE_MAIN = """
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network is unreachable (test)")
socket.create_connection = refuse
sys.argv = ["main"] + sys.argv[1:]
runpy.run_module("examples.mnist.main", run_name="__main__")
"""


def test_main_offline_without_data_dir_exits_with_advice_not_a_traceback(tmp_path):
    workdir = tmp_path / "workdir"
    env = dict(os.environ, TFDS_DATA_DIR=str(tmp_path / "tfds"))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _OFFLINE_MAIN,
            f"--workdir={workdir}",
            f"--config.tfds_data_dir={tmp_path / 'tfds'}",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "--config.data_dir=" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "checkpoints").exists()


def test_probe_goes_through_the_https_proxy_when_one_is_set(monkeypatch):
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        port = proxy.getsockname()[1]
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("HTTPS_PROXY", raising=False)
        assert input_pipeline._download_route() == ("127.0.0.1", port)
        assert input_pipeline.download_server_reachable(timeout=2.0)
    assert not input_pipeline.download_server_reachable(timeout=2.0)
