"""A tiny model and run for tests: 2 layers of width 32, 40 steps."""

from examples.lm.configs import default


def get_config():
    config = default.get_config()
    config.width, config.layers, config.heads, config.context = 32, 2, 2, 32
    config.batch_size, config.num_steps, config.warmup_steps = 16, 40, 4
    config.eval_every_steps, config.eval_batches, config.log_every_steps = 20, 2, 5
    config.checkpoint_every_steps = 20
    config.sample_chars = 20
    return config
