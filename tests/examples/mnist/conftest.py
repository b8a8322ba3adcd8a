"""Shared set-up for the MNIST example's tests: quiet TF, real data, compile cache."""

import os

# Before TensorFlow is first imported: no C++ log spam, and one thread per op
# pool so it does not compete with XLA (and other test workers) for cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
# The repository's real-data sample: 5,000 MNIST training images (sorted by
# class) and the official 10,000-image test set, as IDX files.
MNIST_5K = REPO_ROOT / ".." / "shared" / "data" / "mnist-5k"


@pytest.fixture(scope="session", autouse=True)
def _compile_cache(tmp_path_factory):
    # Every run builds a new optimizer object, so its jitted step is traced
    # again; the persistent cache then finds the identical program compiled.
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


@pytest.fixture(scope="session")
def mnist_5k_dir() -> Path:
    assert (MNIST_5K / "train-images-idx3-ubyte.gz").is_file(), (
        f"the real-data sample is missing: {MNIST_5K.resolve()}"
    )
    return MNIST_5K


@pytest.fixture
def small_config(mnist_5k_dir):
    """The default config on a few hundred real images: seconds to run."""
    from examples.mnist.configs import default

    config = default.get_config()
    config.data_dir = str(mnist_5k_dir)
    config.max_train_examples = 640
    config.max_eval_examples = 500
    config.batch_size = 32
    config.eval_batch_size = 250
    config.num_epochs = 1
    return config


def run_main(*args, env=None, cwd=REPO_ROOT, timeout=300):
    """The example's command line in a fresh process: ``(code, stdout+stderr)``."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "examples.mnist.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr
