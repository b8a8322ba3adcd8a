"""AdamW instead of SGD: learning rate 1e-3, decoupled weight decay 1e-4 on kernels.

Everything else as in ``default.py``. Run with
``--config=examples/mnist/configs/adamw.py``.
"""

import ml_collections

from examples.mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.optimizer = "adamw"
    config.learning_rate = 1e-3
    # AdamW's defaults, spelled out so that they can be overridden on the
    # command line (e.g. --config.optimizer_kwargs.adamw.b2=0.99).
    config.optimizer_kwargs.adamw = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
    config.weight_decay = 1e-4
    return config
