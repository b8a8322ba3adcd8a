"""Shared set-up for the MNIST example's tests: quiet, single-threaded TF, data path."""

import os

# Before TensorFlow is first imported: no C++ log spam, and one thread per op
# pool so tf.data does not compete with XLA (and other test workers) for cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
# The repository's real-data sample: 5,000 MNIST training images (sorted by
# class) and the official 10,000-image test set, as IDX files.
MNIST_5K = REPO_ROOT / ".." / "shared" / "data" / "mnist-5k"


@pytest.fixture(scope="session")
def mnist_5k_dir() -> Path:
    assert (MNIST_5K / "train-images-idx3-ubyte.gz").is_file(), (
        f"the real-data sample is missing: {MNIST_5K.resolve()}"
    )
    return MNIST_5K


@pytest.fixture
def small_config(mnist_5k_dir):
    """The default config on a few hundred real images: one epoch, seconds to run."""
    from examples.mnist.configs import default

    config = default.get_config()
    config.data_dir = str(mnist_5k_dir)
    config.max_train_examples = 640
    config.max_eval_examples = 500
    config.batch_size = 32
    config.eval_batch_size = 250
    config.num_epochs = 1
    return config
