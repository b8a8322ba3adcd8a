"""Default hyperparameters: ResNet-50 on ImageNet, one accelerator, bfloat16.

The recipe of Flax's ImageNet example (Goyal et al., 2017, "Accurate, Large
Minibatch SGD: Training ImageNet in 1 Hour"): SGD with Nesterov momentum 0.9,
learning rate 0.1 per 256 examples with a 5-epoch linear warm-up and cosine
decay to zero, weight decay 1e-4 on kernels, 100 epochs (the length of Flax's
published runs, 76.3-76.7% top-1). Added: an EMA of the parameters and batch
statistics, evaluated alongside them.

Every field can be overridden on the command line, e.g.
``--config.batch_size=128 --config.optimizer=adamw --config.learning_rate=1e-3``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    """Returns the default configuration."""
    config = ml_collections.ConfigDict()

    # Model: ResNet18, ResNet34, ResNet50, ResNet101 or ResNet152.
    config.model = "ResNet50"
    # Filters of the first stage (64 in the paper; smaller for smoke tests).
    config.num_filters = 64
    config.num_classes = 1000
    # Computation dtype: "float32", "bfloat16" or "float16". Parameters stay
    # float32; float16 adds dynamic loss scaling and skips non-finite steps.
    config.dtype = "bfloat16"
    # JAX PRNG implementation for the initialisation ("threefry2x32", "rbg",
    # "unsafe_rbg"); "rbg" compiles much faster on CPU.
    config.rng_impl = "threefry2x32"

    # Data: a TFDS image-classification dataset with JPEG images.
    config.dataset = "imagenet2012"
    config.tfds_data_dir = config_dict.placeholder(str)  # None: TFDS's default
    config.train_split = "train"
    config.eval_split = "validation"
    # Split sizes (0: from TFDS's metadata; needed for mocked data sets).
    config.num_train_examples = 0
    config.num_eval_examples = 0
    config.image_size = 224
    # One fixed random batch instead of the data set (benchmarks, smoke tests).
    config.fake_data = False
    # Keep the encoded records in memory after the first epoch (ImageNet:
    # about 150 GB over all hosts).
    config.cache = False
    config.shuffle_buffer_size = 16 * 1024
    config.prefetch = -1  # tf.data batches prepared ahead (-1: autotune)
    config.device_prefetch = 2  # global batches transferred to devices ahead

    # Training loop. Batch sizes are global (over all devices of all hosts).
    config.seed = 0
    config.batch_size = 256
    config.eval_batch_size = 256
    config.num_epochs = 100.0
    config.num_train_steps = -1  # > 0: overrides num_epochs
    config.log_every_steps = 100
    config.eval_every_steps = -1  # -1: once per epoch
    config.steps_per_eval = -1  # -1: the whole evaluation split
    config.checkpoint_every_steps = 1000
    config.max_checkpoints_to_keep = 3
    config.async_checkpointing = True
    # Profile this many steps (after step 10, then hourly) on process 0; 0: off.
    config.num_profile_steps = 5

    # Optimizer: any name in tsx.optimizers.available() ("sgd", "adamw",
    # "lamb", "contrib.muon", ...), called with the learning rate and
    # optimizer_kwargs[optimizer] (none for an optimizer not listed there).
    config.optimizer = "sgd"
    config.optimizer_kwargs = ml_collections.ConfigDict(
        {"sgd": {"momentum": 0.9, "nesterov": True}}
    )
    # Peak learning rate per base_batch_size examples; the peak used is
    # learning_rate * batch_size / base_batch_size (0: no scaling).
    config.learning_rate = 0.1
    config.base_batch_size = 256
    # "warmup_cosine" (linear warm-up, then cosine to 0), "cosine" or "constant".
    config.schedule = "warmup_cosine"
    config.warmup_epochs = 5.0
    # Weight decay on kernels only (tsx.masks.decay_mask). "auto": the
    # optimizer's own decoupled decay where it has one (AdamW, ...), otherwise
    # added to the gradient ("l2", as for SGD); "decoupled" or "l2" to choose.
    config.weight_decay = 1e-4
    config.weight_decay_mode = "auto"
    # EMA of the parameters and batch statistics (0: off), warm-up
    # min(decay, (1 + n) / (10 + n)).
    config.ema_decay = 0.9999
    config.ema_warmup = True
    # Skip steps whose gradient has a NaN/Inf (always on with float16).
    config.skip_nonfinite = False
    # float16 dynamic loss scaling (tsx.training.DynamicLossScale).
    config.loss_scale_init = 2.0**15
    config.loss_scale_growth_interval = 2000

    # Sharding over the devices of all hosts (one mesh axis, "data"): the
    # batch is always split; "replicated" keeps a full copy of the params,
    # batch stats, EMA and optimizer state on every device; "zero" (ZeRO-1)
    # splits the optimizer state and EMA over the devices and keeps the
    # params whole; "sharded" splits each array of at least shard_min_size
    # elements along a dimension divisible by the device count (FSDP style).
    config.state_sharding = "replicated"
    config.shard_min_size = 2**14

    return config
