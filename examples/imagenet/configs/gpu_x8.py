"""ResNet-50 on one host with eight GPUs: global batch 1024, bfloat16.

128 examples per GPU; the learning rate scales to 0.4. Run with
``--config=examples/imagenet/configs/gpu_x8.py``; for float16 with dynamic
loss scaling (GPUs without fast bfloat16) add ``--config.dtype=float16``.
"""

import ml_collections

from examples.imagenet.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the eight-GPU configuration."""
    config = default.get_config()
    config.batch_size = 1024
    config.eval_batch_size = 1024
    config.log_every_steps = 100
    config.checkpoint_every_steps = 2000
    return config
