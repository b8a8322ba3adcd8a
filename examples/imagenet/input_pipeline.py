"""ImageNet input: TFDS ``imagenet2012`` through ``tf.data``, one shard per host.

Each host (JAX process) reads its own part of every split
(``tfds.split_for_jax_process``) and yields its *local* batches,
``global_batch / process_count`` examples each; the training loop assembles
them into global arrays sharded over every device
(``jax.make_array_from_process_local_data``).

Training examples get the standard Inception-style augmentation (Szegedy et
al., 2015, "Going Deeper with Convolutions"): a random crop covering 8% to
100% of the image with aspect ratio in [3/4, 4/3], resized to
``image_size``, and a random horizontal flip. Evaluation resizes a centre crop
of ``image_size / (image_size + 32)`` of the shorter side. Pixels are then
normalised with the ImageNet channel means and standard deviations.

Exact resumption: the order of an epoch's examples is fixed by
``(seed, epoch, process_index)`` (a seeded file shuffle, or a seeded pass of
the shuffle buffer over a cached copy), and every random choice of the
augmentation is a stateless function of the same seed and the example's
position in the epoch. A run resumed at step ``s`` therefore starts epoch
``s // steps_per_epoch`` and skips the first ``s % steps_per_epoch`` batches'
*encoded* records (no decoding), and sees exactly the batches that an
uninterrupted run would have.

Evaluation batches all have the full local batch size, on every host: each
host's part of the split is padded with blank examples of ``mask`` 0, so that
every host runs the same number of steps and each real example counts once.

``config.fake_data`` replaces all of this with one fixed random batch (for
benchmarks and smoke tests; no TensorFlow work per step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
from collections.abc import Iterator
from typing import Any

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

__all__ = [
    "CROP_PADDING",
    "DataError",
    "FakeInput",
    "MEAN_RGB",
    "STDDEV_RGB",
    "TfdsInput",
    "create_input",
    "epoch_seed",
    "local_batch_size",
    "preprocess_for_eval",
    "preprocess_for_train",
]

# Per-channel statistics of the ImageNet training set, on the 0-255 scale.
MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# Evaluation crops image_size / (image_size + CROP_PADDING) of the shorter
# side: 224 / 256 = 87.5% at the standard size.
CROP_PADDING = 32

Batch = dict[str, np.ndarray]


class DataError(ValueError):
    """The data set cannot be read or does not fit the config."""


def local_batch_size(global_batch: int, process_count: int, device_count: int) -> int:
    """This host's share of ``global_batch``; it must split evenly over devices."""
    if global_batch % device_count:
        raise DataError(
            f"batch size {global_batch} is not divisible by the {device_count}"
            " devices of the mesh"
        )
    return global_batch // process_count


def epoch_seed(seed: int, epoch: int, process_index: int) -> int:
    """A 31-bit seed for one host's epoch, from the run's ``seed``."""
    state = np.random.SeedSequence([seed, epoch, process_index]).generate_state(1)
    return int(state[0]) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# Per-example preprocessing (graph mode, inside tf.data).

# The map functions use TF control flow explicitly (tf.cond), so AutoGraph's
# source rewriting has nothing to do; skipping it makes building each epoch's
# pipeline several times faster.
_plain = tf.autograph.experimental.do_not_convert


def _normalize(image: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    image = (image - tf.constant(MEAN_RGB)) / tf.constant(STDDEV_RGB)
    return tf.cast(image, dtype)


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    image = tf.image.resize(image, [image_size, image_size], method="bicubic")
    # Bicubic interpolation overshoots a little at sharp edges.
    return tf.clip_by_value(image, 0.0, 255.0)


def _center_window(shape: tf.Tensor, image_size: int) -> tf.Tensor:
    """``[y, x, h, w]`` of the centred square that evaluation crops."""
    height, width = shape[0], shape[1]
    fraction = image_size / (image_size + CROP_PADDING)
    side = tf.cast(fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    side = tf.maximum(side, 1)
    return tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])


def preprocess_for_train(
    image_bytes: tf.Tensor,
    seed: tf.Tensor,
    image_size: int,
    dtype: tf.DType = tf.float32,
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_ratio_range: tuple[float, float] = (3 / 4, 4 / 3),
) -> tf.Tensor:
    """Random-resized crop and random flip of one JPEG, normalised.

    ``seed`` (int32 ``[2]``) determines every random choice, so the same seed
    always gives the same image. The crop is sampled with
    ``tf.image.stateless_sample_distorted_bounding_box`` (10 attempts); when
    no attempt fits, the whole image comes back and the evaluation centre crop
    is used instead. Only the crop window of the JPEG is decoded.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.io.extract_jpeg_shape(image_bytes)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        seed=crop_seed,
        min_object_covered=0.1,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    failed = tf.reduce_all(tf.equal(size[:2], shape[:2]))
    window = tf.cond(failed, lambda: _center_window(shape, image_size), lambda: window)
    image = tf.io.decode_and_crop_jpeg(image_bytes, window, channels=3)
    image = _resize(tf.cast(image, tf.float32), image_size)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return _normalize(image, dtype)


def preprocess_for_eval(
    image_bytes: tf.Tensor, image_size: int, dtype: tf.DType = tf.float32
) -> tf.Tensor:
    """Centre crop (``image_size / (image_size + 32)`` of the short side), resized."""
    shape = tf.io.extract_jpeg_shape(image_bytes)
    image = tf.io.decode_and_crop_jpeg(
        image_bytes, _center_window(shape, image_size), channels=3
    )
    image = _resize(tf.cast(image, tf.float32), image_size)
    return _normalize(image, dtype)


# --------------------------------------------------------------------------
# Host-local datasets.


def _split_size(builder: Any, split: str, override: int) -> int:
    if override > 0:
        return override
    try:
        return builder.info.splits[split].num_examples
    except KeyError:
        raise DataError(
            f"TFDS knows no size for {builder.name} split {split!r} (not prepared"
            " yet, or mocked); set config.num_train_examples /"
            " config.num_eval_examples"
        ) from None


@dataclasses.dataclass
class TfdsInput:
    """One host's view of a TFDS image-classification dataset.

    Attributes:
      builder: the TFDS builder (already prepared).
      train_split, eval_split: the TFDS split names (whole splits; each host
        reads its own part).
      num_train, num_eval: examples in the whole splits.
      global_batch: examples per training step over all hosts.
      eval_global_batch: examples per evaluation step over all hosts.
      image_size: side of the square images fed to the model.
      dtype: image dtype after normalisation (the model's compute dtype).
      seed: the run's seed (epoch order and augmentation derive from it).
      process_index, process_count: this host and the number of hosts.
      cache: keep the encoded records in memory after the first pass.
      shuffle_buffer_size: examples in the shuffle buffer.
      prefetch: batches ``tf.data`` prepares ahead (-1: autotune).
      steps_per_eval: evaluate on this many batches (-1: the whole split).
    """

    builder: Any
    train_split: str
    eval_split: str
    num_train: int
    num_eval: int
    global_batch: int
    eval_global_batch: int
    image_size: int
    dtype: tf.DType
    seed: int
    process_index: int
    process_count: int
    cache: bool = False
    shuffle_buffer_size: int = 16 * 1024
    prefetch: int = -1
    steps_per_eval: int = -1

    def __post_init__(self) -> None:
        import tensorflow_datasets as tfds

        self._tfds = tfds
        self.local_batch = self.global_batch // self.process_count
        self.eval_local_batch = self.eval_global_batch // self.process_count
        # Hosts' shares of a split differ by at most one example.
        self._host_train = tfds.split_for_jax_process(
            self.train_split,
            process_index=self.process_index,
            process_count=self.process_count,
        )
        self._host_eval = tfds.split_for_jax_process(
            self.eval_split,
            process_index=self.process_index,
            process_count=self.process_count,
        )
        if self.steps_per_epoch < 1:
            raise DataError(
                f"the {self.num_train} training examples make no full batch of"
                f" {self.global_batch}"
            )
        self._cached_train = None
        self._cached_eval = None

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch: every host has at least ``num_train // hosts``."""
        return (self.num_train // self.process_count) // self.local_batch

    @property
    def eval_steps(self) -> int:
        """Evaluation batches per host (the largest host share, padded)."""
        if self.steps_per_eval > 0:
            return self.steps_per_eval
        return math.ceil(
            math.ceil(self.num_eval / self.process_count) / self.eval_local_batch
        )

    def _options(self) -> tf.data.Options:
        options = tf.data.Options()
        # Resumption needs the same order every time.
        options.deterministic = True
        options.experimental_optimization.map_parallelization = True
        return options

    def _read(self, split: Any, shuffle_seed: int | None) -> tf.data.Dataset:
        tfds = self._tfds
        read_config = tfds.ReadConfig(
            shuffle_seed=shuffle_seed,
            shuffle_reshuffle_each_iteration=False,
            try_autocache=False,
            options=self._options(),
        )
        ds = self.builder.as_dataset(
            split=split,
            shuffle_files=shuffle_seed is not None,
            decoders={"image": tfds.decode.SkipDecoding()},
            read_config=read_config,
        )
        return ds.map(_plain(lambda ex: {"image": ex["image"], "label": ex["label"]}))

    def _train_records(self, seed: int) -> tf.data.Dataset:
        if not self.cache:
            # A fresh file order per epoch (and per host).
            return self._read(self._host_train, shuffle_seed=seed)
        if self._cached_train is None:
            # One fixed file order, kept in memory; epochs differ by the
            # shuffle buffer's seed only.
            self._cached_train = self._read(self._host_train, None).cache()
        return self._cached_train

    def train_dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """Epoch ``epoch``'s local batches (0-based), from batch ``skip_batches``."""
        seed = epoch_seed(self.seed, epoch, self.process_index)
        ds = self._train_records(seed)
        ds = ds.shuffle(
            self.shuffle_buffer_size, seed=seed, reshuffle_each_iteration=False
        )
        ds = ds.take(self.steps_per_epoch * self.local_batch)
        # The position in the epoch keys the augmentation, so that skipped
        # examples do not shift the random choices of the rest.
        ds = ds.enumerate().skip(skip_batches * self.local_batch)

        image_size, dtype = self.image_size, self.dtype

        @_plain
        def preprocess(index: tf.Tensor, example: dict[str, tf.Tensor]):
            example_seed = tf.stack([tf.constant(seed, tf.int64), index])
            image = preprocess_for_train(
                example["image"], tf.cast(example_seed, tf.int32), image_size, dtype
            )
            return {"image": image, "label": tf.cast(example["label"], tf.int32)}

        ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(self.local_batch, drop_remainder=True)
        return ds.prefetch(self.prefetch)

    def eval_dataset(self) -> tf.data.Dataset:
        """``eval_steps`` local batches with a ``mask`` (0 for padding)."""
        if self._cached_eval is None:
            ds = self._read(self._host_eval, None)
            self._cached_eval = ds.cache() if self.cache else ds
        image_size, dtype = self.image_size, self.dtype

        @_plain
        def preprocess(example: dict[str, tf.Tensor]):
            return {
                "image": preprocess_for_eval(example["image"], image_size, dtype),
                "label": tf.cast(example["label"], tf.int32),
                "mask": tf.constant(1.0, tf.float32),
            }

        blank = {
            "image": tf.zeros([image_size, image_size, 3], dtype),
            "label": tf.constant(0, tf.int32),
            "mask": tf.constant(0.0, tf.float32),
        }
        ds = self._cached_eval.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat())
        ds = ds.take(self.eval_steps * self.eval_local_batch)
        ds = ds.batch(self.eval_local_batch, drop_remainder=True)
        return ds.prefetch(self.prefetch)

    def train_batches(self, start_step: int = 0) -> Iterator[Batch]:
        """Local training batches forever, from global step ``start_step``."""
        epoch, skip = divmod(start_step, self.steps_per_epoch)
        while True:
            yield from self.train_dataset(epoch, skip).as_numpy_iterator()
            epoch, skip = epoch + 1, 0

    def eval_batches(self) -> Iterator[Batch]:
        return self.eval_dataset().as_numpy_iterator()


@dataclasses.dataclass
class FakeInput:
    """One fixed batch of random images and labels, served forever (per host)."""

    num_train: int
    num_eval: int
    global_batch: int
    eval_global_batch: int
    image_size: int
    dtype: Any
    seed: int
    process_index: int
    process_count: int
    num_classes: int = 1000
    steps_per_eval: int = -1

    def __post_init__(self) -> None:
        self.local_batch = self.global_batch // self.process_count
        self.eval_local_batch = self.eval_global_batch // self.process_count
        rng = np.random.default_rng([self.seed, self.process_index])
        self._train = self._batch(rng, self.local_batch)
        self._eval = {
            **self._batch(rng, self.eval_local_batch),
            "mask": np.ones([self.eval_local_batch], np.float32),
        }

    def _batch(self, rng: np.random.Generator, size: int) -> Batch:
        shape = (size, self.image_size, self.image_size, 3)
        return {
            "image": rng.standard_normal(shape, np.float32).astype(self.dtype),
            "label": rng.integers(0, self.num_classes, size, dtype=np.int32),
        }

    @property
    def steps_per_epoch(self) -> int:
        return max(self.num_train // self.global_batch, 1)

    @property
    def eval_steps(self) -> int:
        if self.steps_per_eval > 0:
            return self.steps_per_eval
        return max(math.ceil(self.num_eval / self.eval_global_batch), 1)

    def train_batches(self, start_step: int = 0) -> Iterator[Batch]:
        del start_step  # every batch is the same
        while True:
            # The same object each time: the loop transfers it only once.
            yield self._train

    def eval_batches(self) -> Iterator[Batch]:
        for _ in range(self.eval_steps):
            yield self._eval


@contextlib.contextmanager
def _absl_level(level: int) -> Iterator[None]:
    logger = absl_logging.get_absl_logger()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _tf_dtype(name: str) -> tf.DType:
    return {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[name]


def create_input(
    config: ml_collections.ConfigDict,
    *,
    dtype: str,
    process_index: int,
    process_count: int,
    device_count: int,
) -> TfdsInput | FakeInput:
    """The input ``config`` describes, for host ``process_index`` of ``process_count``.

    ``dtype`` ("float32", "bfloat16" or "float16") is the images' dtype.
    """
    local_batch_size(config.batch_size, process_count, device_count)
    local_batch_size(config.eval_batch_size, process_count, device_count)
    common = dict(
        global_batch=config.batch_size,
        eval_global_batch=config.eval_batch_size,
        image_size=config.image_size,
        seed=config.seed,
        process_index=process_index,
        process_count=process_count,
        steps_per_eval=config.steps_per_eval,
    )
    if config.fake_data:
        return FakeInput(
            num_train=config.num_train_examples or 1_281_167,
            num_eval=config.num_eval_examples or 50_000,
            dtype=np.dtype(_tf_dtype(dtype).as_numpy_dtype),
            num_classes=config.num_classes,
            **common,
        )

    import tensorflow_datasets as tfds

    where = f"{config.dataset!r} (config.tfds_data_dir={config.tfds_data_dir!r})"
    printed = io.StringIO()
    try:
        # TFDS logs while it looks for a prepared copy and prints a line before
        # it tries to build one; a failure is reported below in one line.
        with _absl_level(logging.ERROR), contextlib.redirect_stdout(printed):
            builder = tfds.builder(config.dataset, data_dir=config.tfds_data_dir)
            builder.download_and_prepare()
    except Exception as err:  # noqa: BLE001 - TFDS raises many kinds
        first_line = next(iter(str(err).strip().splitlines()), type(err).__name__)
        raise DataError(
            f"TFDS cannot prepare {where}: {first_line} (README: 'Prepare ImageNet"
            " with TFDS'; or use --config.fake_data=True)"
        ) from None
    print(printed.getvalue(), end="")
    num_classes = builder.info.features["label"].num_classes
    if num_classes != config.num_classes:
        raise DataError(
            f"{config.dataset} has {num_classes} classes but config.num_classes"
            f" is {config.num_classes}"
        )
    return TfdsInput(
        builder=builder,
        train_split=config.train_split,
        eval_split=config.eval_split,
        num_train=_split_size(builder, config.train_split, config.num_train_examples),
        num_eval=_split_size(builder, config.eval_split, config.num_eval_examples),
        dtype=_tf_dtype(dtype),
        cache=config.cache,
        shuffle_buffer_size=config.shuffle_buffer_size,
        prefetch=config.prefetch,
        **common,
    )
