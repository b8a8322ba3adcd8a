"""The MNIST input pipeline: IDX files, damaged files named, seeded epochs, TFDS."""

import gzip
import socket

import numpy as np
import pytest

from examples.mnist import input_pipeline
from examples.mnist.configs import default


def _write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_a_hand_built_file(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    _write_idx(path, array, compress)
    np.testing.assert_array_equal(input_pipeline.read_idx(path), array)


def test_damaged_files_are_named(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(input_pipeline.DataError, match=f"{bad} is not an IDX file"):
        input_pipeline.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))  # promises 5, holds 2
    with pytest.raises(input_pipeline.DataError, match=f"{short} is truncated"):
        input_pipeline.read_idx(short)
    truncated = tmp_path / "truncated.gz"
    _write_idx(truncated, np.zeros((100, 28, 28)))
    truncated.write_bytes(truncated.read_bytes()[:40])
    with pytest.raises(input_pipeline.DataError, match=f"cannot read {truncated}"):
        input_pipeline.read_idx(truncated)
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(b"\x1f\x8b" + bytes(range(60)))
    with pytest.raises(input_pipeline.DataError, match=f"cannot read {corrupt}"):
        input_pipeline.read_idx(corrupt)


def test_real_sample_loads_with_the_documented_shapes_and_classes(mnist_5k_dir):
    train_images, train_labels = input_pipeline.load_split(mnist_5k_dir, "train")
    test_images, test_labels = input_pipeline.load_split(mnist_5k_dir, "test")
    assert train_images.shape == (5000, 28, 28, 1) and train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28, 1)
    # The sample's README: 500 images per class; the official test set's counts.
    np.testing.assert_array_equal(np.bincount(train_labels), [500] * 10)
    np.testing.assert_array_equal(
        np.bincount(test_labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    )


def test_each_epoch_is_its_own_seeded_permutation_of_normalized_batches():
    images = np.arange(10 * 28 * 28, dtype=np.uint8).reshape(10, 28, 28, 1)
    split = (images, np.arange(10, dtype=np.int32))
    first = list(input_pipeline.train_batches(split, 3, seed=0, epoch=1))
    assert len(first) == 3  # 10 // 3 full batches; the partial one is dropped
    labels = np.concatenate([b["label"] for b in first])
    assert len(set(labels.tolist())) == 9
    again = list(input_pipeline.train_batches(split, 3, seed=0, epoch=1))
    other = list(input_pipeline.train_batches(split, 3, seed=0, epoch=2))
    same = [
        np.array_equal(a["label"], b["label"])
        for a, b in zip(first, again, strict=True)
    ]
    differ = [
        np.array_equal(a["label"], b["label"])
        for a, b in zip(first, other, strict=True)
    ]
    assert all(same) and not all(differ)
    batch = first[0]
    assert batch["image"].dtype == np.float32
    np.testing.assert_allclose(batch["image"], images[batch["label"]] / 255.0)
    test = list(input_pipeline.test_batches(split, 4))
    assert [len(b["label"]) for b in test] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in test]), split[1])


def test_a_subset_of_the_class_sorted_sample_covers_every_class(small_config):
    data, _ = input_pipeline.load(small_config)
    assert len(data["train"][1]) == 640 and len(data["test"][1]) == 500
    assert set(data["train"][1].tolist()) == set(range(10))


def test_missing_files_name_the_folder_and_the_files(tmp_path):
    with pytest.raises(input_pipeline.DataError, match="train-images-idx3-ubyte.gz"):
        input_pipeline.load_split(tmp_path, "train")


def test_the_mnist_dir_variable_is_read(monkeypatch, mnist_5k_dir):
    config = default.get_config()
    monkeypatch.setenv("MNIST_DIR", str(mnist_5k_dir))
    _, source = input_pipeline.load(config)
    assert source == f"IDX files in {mnist_5k_dir}"


def test_offline_without_data_fails_at_once_with_advice(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise socket.gaierror("offline")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    config = default.get_config()
    config.tfds_data_dir = str(tmp_path / "tfds")
    with pytest.raises(input_pipeline.DataError, match="offline.*--config.data_dir"):
        input_pipeline.load(config)


def test_tfds_path_reads_mnist_through_tfds(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(input_pipeline, "_offline", lambda _: False)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    config = default.get_config()
    config.tfds_data_dir = str(tmp_path / "tfds")
    with tfds.testing.mock_data(num_examples=96):
        data, source = input_pipeline.load(config)
    assert source == "TFDS mnist"
    assert data["train"][0].shape == (96, 28, 28, 1)
    assert data["train"][0].dtype == np.uint8
    assert data["test"][1].dtype == np.int32
