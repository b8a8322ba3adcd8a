"""The ImageNet input pipeline on a tiny real TFDS data set (no mock, no JAX)."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from examples.imagenet import input_pipeline as ip
from examples.imagenet.configs import cpu_smoke
from tests.examples.imagenet.conftest import (
    TINY_CLASSES,
    TINY_EVAL,
    TINY_TRAIN,
    example_index,
    tiny_colour,
)

SIZE = 16


def _config(tiny_tfds, **overrides):
    name, data_dir = tiny_tfds
    config = cpu_smoke.get_config()
    config.update(
        dataset=name,
        tfds_data_dir=data_dir,
        fake_data=False,
        num_classes=TINY_CLASSES,
        image_size=SIZE,
        batch_size=4,
        eval_batch_size=6,
        steps_per_eval=-1,
        shuffle_buffer_size=64,
    )
    config.update(overrides)
    return config


def _hosts(tiny_tfds, process_count, **overrides):
    config = _config(tiny_tfds, **overrides)
    return [
        ip.create_input(
            config,
            dtype="float32",
            process_index=i,
            process_count=process_count,
            device_count=process_count,
        )
        for i in range(process_count)
    ]


def _indices(batch):
    return [example_index(img, ip.MEAN_RGB, ip.STDDEV_RGB) for img in batch["image"]]


def test_each_host_reads_its_own_part_of_every_epoch(tiny_tfds):
    hosts = _hosts(tiny_tfds, process_count=2)
    assert [h.local_batch for h in hosts] == [2, 2]
    # Every host has at least 40 // 2 = 20 examples: 10 steps of 2.
    assert [h.steps_per_epoch for h in hosts] == [10, 10]
    seen = []
    for host in hosts:
        batches = list(host.train_dataset(epoch=0).as_numpy_iterator())
        assert len(batches) == 10
        indices = [i for b in batches for i in _indices(b)]
        labels = [int(x) for b in batches for x in b["label"]]
        assert labels == [i % TINY_CLASSES for i in indices]
        assert len(set(indices)) == 20  # no example twice in an epoch
        seen.append(set(indices))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(TINY_TRAIN))


def test_epochs_are_reshuffled_and_resuming_skips_exactly(tiny_tfds):
    (data,) = _hosts(tiny_tfds, process_count=1)
    assert data.steps_per_epoch == TINY_TRAIN // 4
    epoch0 = list(data.train_dataset(0).as_numpy_iterator())
    epoch1 = list(data.train_dataset(1).as_numpy_iterator())
    order0 = [i for b in epoch0 for i in _indices(b)]
    order1 = [i for b in epoch1 for i in _indices(b)]
    assert sorted(order0) == sorted(order1) == list(range(TINY_TRAIN))
    assert order0 != order1
    # Rebuilding the pipeline gives the same bytes (order and augmentation).
    again = list(data.train_dataset(0).as_numpy_iterator())
    for a, b in zip(epoch0, again, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])

    # A run resumed at global step 7 sees what an uninterrupted one sees from
    # its 8th batch on, across the epoch boundary (10 steps per epoch).
    stream = list(itertools.islice(data.train_batches(0), 14))
    resumed = list(itertools.islice(data.train_batches(7), 7))
    for a, b in zip(stream[7:], resumed, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    np.testing.assert_array_equal(stream[10]["image"], epoch1[0]["image"])


def test_cached_records_give_the_same_epochs_on_every_pass(tiny_tfds):
    (data,) = _hosts(tiny_tfds, process_count=1, cache=True)
    first = [list(data.train_dataset(e).as_numpy_iterator()) for e in (0, 1)]
    second = [list(data.train_dataset(e).as_numpy_iterator()) for e in (0, 1)]
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
    orders = [[i for b in epoch for i in _indices(b)] for epoch in first]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(TINY_TRAIN))
    assert orders[0] != orders[1]


@pytest.mark.parametrize("process_count", [1, 3])
def test_evaluation_covers_every_example_once_in_equal_padded_batches(
    tiny_tfds, process_count
):
    hosts = _hosts(tiny_tfds, process_count=process_count, batch_size=6)
    per_host = [list(h.eval_batches()) for h in hosts]
    # Same number of equally sized batches on every host.
    local = 6 // process_count
    expected_steps = math.ceil(math.ceil(TINY_EVAL / process_count) / local)
    assert {len(b) for b in per_host} == {expected_steps}
    assert {x["image"].shape for b in per_host for x in b} == {(local, SIZE, SIZE, 3)}
    real = []
    for batches in per_host:
        for batch in batches:
            mask = batch["mask"].astype(bool)
            real += _indices({"image": batch["image"][mask]})
            np.testing.assert_array_equal(batch["image"][~mask], 0.0)
    assert sorted(real) == list(range(TINY_TRAIN, TINY_TRAIN + TINY_EVAL))


def test_eval_preprocessing_normalises_with_the_imagenet_statistics(tiny_tfds):
    (data,) = _hosts(tiny_tfds, process_count=1)
    batch = next(data.eval_batches())
    index = _indices(batch)[0]
    expected = (np.array(tiny_colour(index)) - ip.MEAN_RGB) / ip.STDDEV_RGB
    # JPEG round trip of a flat colour: within two grey levels.
    np.testing.assert_allclose(
        batch["image"][0].mean(axis=(0, 1)), expected, atol=2 / 56
    )
    assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32


def _gradient_jpeg(height=48, width=64):
    """Red rises from 0 to 255 left to right, green top to bottom."""
    y, x = np.mgrid[0:height, 0:width]
    red, green = 255 * x / (width - 1), 255 * y / (height - 1)
    image = np.stack([red, green, np.full_like(red, 100)], -1)
    return tf.io.encode_jpeg(np.round(image).astype(np.uint8), quality=100)


def test_train_augmentation_is_a_function_of_its_seed():
    jpeg = _gradient_jpeg()

    def run(seed):
        return ip.preprocess_for_train(
            jpeg, tf.constant(seed, tf.int32), 24, tf.bfloat16
        ).numpy()

    a, b, c = run([1, 2]), run([1, 2]), run([3, 4])
    assert a.shape == (24, 24, 3) and a.dtype == tf.bfloat16.as_numpy_dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Normalised pixels of a 0-255 image, bfloat16-rounded.
    low = (0 - np.array(ip.MEAN_RGB)) / ip.STDDEV_RGB
    high = (255 - np.array(ip.MEAN_RGB)) / ip.STDDEV_RGB
    values = a.astype(np.float32)
    assert np.all(values >= low - 0.02) and np.all(values <= high + 0.02)
    # Over many seeds both orientations occur: the red channel grows with x
    # unflipped and falls with x flipped.
    slopes = {
        np.sign(np.mean(np.diff(run([s, 0]).astype(np.float32)[..., 0], axis=1)))
        for s in range(12)
    }
    assert slopes == {-1.0, 1.0}


def test_eval_crop_is_the_central_square():
    jpeg = _gradient_jpeg(height=64, width=96)
    image = ip.preprocess_for_eval(jpeg, 56).numpy()
    # 56 / (56 + 32) of the 64-pixel short side: a 40-pixel square at
    # y = 12..51, x = 28..67, resized to 56 x 56.
    red = image[..., 0] * ip.STDDEV_RGB[0] + ip.MEAN_RGB[0]
    green = image[..., 1] * ip.STDDEV_RGB[1] + ip.MEAN_RGB[1]
    assert red[:, 0].mean() == pytest.approx(255 * 28 / 95, abs=3)
    assert red[:, -1].mean() == pytest.approx(255 * 67 / 95, abs=3)
    assert green[0].mean() == pytest.approx(255 * 12 / 63, abs=3)
    assert green[-1].mean() == pytest.approx(255 * 51 / 63, abs=3)


def test_fake_input_serves_one_batch_without_copies():
    config = cpu_smoke.get_config()
    data = ip.create_input(
        config, dtype="bfloat16", process_index=1, process_count=2, device_count=8
    )
    batches = data.train_batches(5)
    first, second = next(batches), next(batches)
    assert first is second
    assert first["image"].shape == (8, 32, 32, 3)
    assert first["image"].dtype == tf.bfloat16.as_numpy_dtype
    assert first["label"].min() >= 0 and first["label"].max() < 1000
    evals = list(data.eval_batches())
    assert len(evals) == config.steps_per_eval
    assert evals[0]["mask"].sum() == 8


def test_configuration_errors_name_the_setting(tiny_tfds):
    with pytest.raises(ValueError, match="not divisible by the 8 devices"):
        ip.create_input(
            _config(tiny_tfds, batch_size=12),
            dtype="float32",
            process_index=0,
            process_count=1,
            device_count=8,
        )
    with pytest.raises(ValueError, match="config.num_classes"):
        _hosts(tiny_tfds, process_count=1, num_classes=1000)
