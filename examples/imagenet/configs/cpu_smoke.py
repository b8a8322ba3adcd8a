"""A CPU smoke test: a narrow ResNet-18 on 32x32 fake images, a minute or so.

Trains 20 steps of batch 16, evaluates and checkpoints every 10. Use
``--config.fake_data=False`` with a prepared (or mocked) TFDS data set to run
the real input pipeline at this size.
"""

import ml_collections

from examples.imagenet.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the CPU smoke-test configuration."""
    config = default.get_config()
    config.model = "ResNet18"
    config.num_filters = 8
    config.dtype = "float32"
    config.rng_impl = "rbg"
    config.image_size = 32
    config.fake_data = True
    config.shuffle_buffer_size = 64
    config.batch_size = 16
    config.eval_batch_size = 16
    config.num_train_steps = 20
    config.warmup_epochs = 0.0
    config.log_every_steps = 5
    config.eval_every_steps = 10
    config.steps_per_eval = 2
    config.checkpoint_every_steps = 10
    config.ema_decay = 0.99
    config.num_profile_steps = 0
    return config
