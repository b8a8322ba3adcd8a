"""Default hyperparameters: the recipe of Flax's MNIST example.

SGD with learning rate 0.1 and momentum 0.9, batch 128, 10 epochs, no
schedule, no weight decay. Override any field on the command line, e.g.
``--config.optimizer=adamw --config.learning_rate=1e-3``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # Data: a folder with the four MNIST IDX files (or $MNIST_DIR); unset: TFDS.
    config.data_dir = config_dict.placeholder(str)
    config.tfds_data_dir = config_dict.placeholder(str)
    # Train / evaluate on a random subset of this many examples (0: all).
    config.max_train_examples = 0
    config.max_eval_examples = 0

    config.seed = 0
    config.batch_size = 128
    config.eval_batch_size = 1000
    config.num_epochs = 10
    config.log_every_steps = 10  # training loss and learning rate to TensorBoard

    # Any name in tsx.optimizers.available(); its keyword arguments come from
    # optimizer_kwargs[optimizer] (none for an optimizer not listed there).
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.optimizer_kwargs = ml_collections.ConfigDict({"sgd": {"momentum": 0.9}})
    # "constant", "cosine" (to 0 over the run) or "warmup_cosine".
    config.schedule = "constant"
    config.warmup_epochs = 0.0
    # Weight decay on kernels only (tsx.masks.decay_mask), 0: off.
    # "decoupled": the optimizer's own weight decay (AdamW); "l2": added to the
    # gradient, as for SGD; "auto": decoupled where the optimizer has it.
    config.weight_decay = 0.0
    config.weight_decay_mode = "auto"
    # Optimizer state in 32 (float32), 16, 8 or 4 bits (tsx.quantized_state).
    config.state_bits = 32
    # EMA of the params, evaluated beside them (0: off); warm-up
    # min(ema_decay, (1 + n) / (10 + n)).
    config.ema_decay = 0.0
    config.ema_warmup = True

    config.max_checkpoints_to_keep = 2
    return config
