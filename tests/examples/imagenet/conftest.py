"""Shared set-up for the ImageNet example's tests: quiet TF, a tiny real TFDS set."""

import os

# Before TensorFlow is first imported: no C++ log spam, and one thread per op
# pool so tf.data does not compete with XLA (and other test workers) for cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY_TRAIN = 40
TINY_EVAL = 21
TINY_CLASSES = 10


def tiny_colour(index: int) -> tuple[int, int, int]:
    """The uniform colour of example ``index`` (recoverable after any crop)."""
    return (4 * index, 250 - 4 * index, 128)


def example_index(image: np.ndarray, mean_rgb, stddev_rgb) -> int:
    """Which tiny example a (normalised, uniform) image came from."""
    pixel = image.astype(np.float32).mean(axis=(0, 1)) * stddev_rgb + mean_rgb
    # Red is 4 i and green 250 - 4 i: averaging both halves the JPEG error.
    return round((pixel[0] + 250 - pixel[1]) / 8)


@pytest.fixture(scope="session")
def tiny_tfds(tmp_path_factory):
    """A real (not mocked) TFDS data set of uniformly coloured JPEGs, prepared once.

    ``train`` holds 40 examples and ``validation`` 21 (indices 40-60); each
    image has its own size and the colour :func:`tiny_colour` of its index, and
    label ``index % 10``. Returns ``(name, data_dir)``.
    """
    import tensorflow_datasets as tfds

    class TinyJpegImages(tfds.core.GeneratorBasedBuilder):
        """Uniformly coloured JPEGs whose colour encodes the example index."""

        VERSION = tfds.core.Version("1.0.0")
        # Nothing to download. (Left unset, TFDS looks for a checksums file
        # next to the class's source, which needs the optional
        # importlib_resources package for a class defined outside TFDS.)
        url_infos = {}

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(
                            shape=(None, None, 3), encoding_format="jpeg"
                        ),
                        "label": tfds.features.ClassLabel(num_classes=TINY_CLASSES),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            del dl_manager
            return {
                "train": self._generate_examples(0, TINY_TRAIN),
                "validation": self._generate_examples(
                    TINY_TRAIN, TINY_TRAIN + TINY_EVAL
                ),
            }

        def _generate_examples(self, start, stop):
            for i in range(start, stop):
                shape = (24 + i % 7, 30 + 3 * (i % 5), 3)
                image = np.empty(shape, np.uint8)
                image[...] = tiny_colour(i)
                yield i, {"image": image, "label": i % TINY_CLASSES}

    data_dir = tmp_path_factory.mktemp("tfds")
    builder = TinyJpegImages(data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder.name, str(data_dir)
