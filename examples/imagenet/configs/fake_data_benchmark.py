"""Throughput benchmark: ResNet-50 on one fixed random batch, no evaluation.

Measures the training step alone (no input pipeline, no checkpoint until the
end): read ``steps_per_sec`` / ``train_images_per_sec`` from the logs.
``--config.batch_size`` is global: 128 per device is typical on accelerators.
"""

import ml_collections

from examples.imagenet.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the fake-data benchmark configuration."""
    config = default.get_config()
    config.fake_data = True
    config.batch_size = 256
    config.num_train_steps = 200
    config.log_every_steps = 50
    config.eval_every_steps = 10**9  # never (there is no evaluation data)
    config.checkpoint_every_steps = 10**9  # only at the end
    config.num_profile_steps = 0
    return config
