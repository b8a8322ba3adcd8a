"""ResNet-50 on a TPU host or pod slice: bfloat16, data cached in host memory.

The global batch of 1024 is 128 per core of a v2-8/v3-8; on a pod slice scale
it with the devices, e.g. ``--config.batch_size=4096`` on v3-32 (the learning
rate follows: 0.1 * batch / 256). Every host runs the same command (see
README.md).
"""

import ml_collections

from examples.imagenet.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the TPU configuration."""
    config = default.get_config()
    config.batch_size = 1024
    config.eval_batch_size = 1024
    # TPU hosts have the memory to keep their share of ImageNet.
    config.cache = True
    config.checkpoint_every_steps = 2000
    return config
