"""Default: a 4-layer, width-128 byte transformer trained with SOAP.

About 0.8M parameters, context 128, batch 32, 600 steps: about 4 minutes
on 2 CPU cores. Matrices (the scanned layers' kernels) on SOAP; embeddings,
norms and biases on AdamW. Override any field on the command line, e.g.
``--config.optimizer=adamw --config.learning_rate=6e-3``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # A folder with train.txt(.gz) and valid.txt(.gz); unset: TFDS tiny_shakespeare.
    config.data_dir = config_dict.placeholder(str)

    config.vocab = 256  # bytes
    config.width = 128
    config.layers = 4
    config.heads = 4
    config.context = 128
    config.tied_embeddings = True

    config.seed = 0
    config.batch_size = 32
    config.num_steps = 600
    config.eval_every_steps = 100
    config.eval_batches = 8
    config.log_every_steps = 10

    # "adamw", "muon", "soap", "shampoo" or "kron" for the layers' matrices;
    # everything else is on AdamW. optimizer_kwargs[optimizer] go to it.
    config.optimizer = "soap"
    config.optimizer_kwargs = ml_collections.ConfigDict({})
    config.learning_rate = 6e-3  # AdamW's (and SOAP's, Shampoo's, Kron's)
    config.muon_learning_rate = 0.02  # Muon's own scale
    config.embed_lr_mult = 1.0  # learning-rate multiplier of the embeddings
    config.schedule = "warmup_cosine"  # or "wsd" (warm-up, stable, decay)
    config.warmup_steps = 60
    config.weight_decay = 0.1  # decoupled, kernels and embeddings only
    config.grad_clip = 1.0  # global norm; 0: off
    config.ema_decay = 0.0  # EMA of the params for evaluation; 0: off

    # Optimizer state in 32, 16, 8 or 4 bits (tsx.quantized_state).
    config.state_bits = 32
    # A mesh axis over all local devices splits the batch; with zero_axis set
    # ("data") the optimizer state is split over it too (ZeRO-1).
    config.zero_axis = config_dict.placeholder(str)
    # Params split along their width ("embed") axis over the devices (FSDP).
    config.fsdp = False

    config.sample_chars = 200  # text sampled at the end (0: none)
    config.sample_temperature = 0.8
    config.max_checkpoints_to_keep = 2
    return config
