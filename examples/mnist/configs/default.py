"""Default hyperparameters: the reference recipe of Flax's MNIST example.

SGD with learning rate 0.1 and heavy-ball momentum 0.9, batch 128, 10 epochs,
no schedule, no weight decay. Every field can be overridden on the command
line, e.g. ``--config.learning_rate=0.05 --config.num_epochs=3``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    """Returns the default configuration."""
    config = ml_collections.ConfigDict()

    # Data. With data_dir unset the TFDS `mnist` dataset is used (downloaded on
    # first use); with data_dir=DIR the four MNIST IDX files in DIR are read.
    config.data_dir = config_dict.placeholder(str)
    # Where TFDS keeps its prepared copy (None: TFDS's default, ~/tensorflow_datasets).
    config.tfds_data_dir = config_dict.placeholder(str)
    # Train / evaluate on a fixed random subset of this many examples (0: all).
    config.max_train_examples = 0
    config.max_eval_examples = 0

    # Training loop.
    config.seed = 0
    config.batch_size = 128
    config.eval_batch_size = 1000
    config.num_epochs = 10

    # Optimizer: any name tsx.optimizers.get knows ("sgd", "adam", "adamw",
    # ...), called with learning_rate and the keyword arguments below.
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.optimizer_kwargs = ml_collections.ConfigDict({"momentum": 0.9})
    # Learning-rate schedule: "constant", "cosine" (decay to 0 over the run) or
    # "warmup_cosine" (linear warm-up over warmup_epochs, then cosine to 0).
    config.schedule = "constant"
    config.warmup_epochs = 0.0
    # Weight decay on kernels only (tsx.masks.decay_mask leaves biases and norm
    # scales alone). Optimizers with their own decoupled weight_decay argument
    # (adamw, ...) get it there; others get decayed weights added to the
    # gradient. 0 disables it.
    config.weight_decay = 0.0
    # Exponential moving average of the parameters (tsx.training.TrainState),
    # evaluated alongside the parameters themselves; 0 disables it. With
    # ema_warmup the decay starts low: min(ema_decay, (1 + n) / (10 + n)).
    config.ema_decay = 0.0
    config.ema_warmup = True

    # Checkpoints (one per epoch, in WORKDIR/checkpoints).
    config.max_checkpoints_to_keep = 2

    return config
