"""Default: a 4-layer, width-128 byte transformer trained with SOAP.

About 0.8M parameters, context 128, batch 32, 600 steps: about 4 minutes
on 2 CPU cores. Matrices (the scanned layers' kernels) on SOAP; embeddings,
norms and biases on AdamW. Override any field on the command line, e.g.
``--config.optimizer=adamw --config.learning_rate=6e-3``; an optimizer's own
arguments are fields of ``optimizer_kwargs``:
``--config.optimizer=soap --config.optimizer_kwargs.precondition_frequency=5``.
"""

import inspect

import ml_collections
from ml_collections import config_dict

import tsx

# The optimizers of config.optimizer, by their registry names.
OPTIMIZERS = {
    "adamw": "adamw",
    "muon": "contrib.muon",
    "soap": "contrib.soap",
    "shampoo": "contrib.shampoo",
    "kron": "contrib.kron",
}
# Set by the example itself (learning rates, decay and its mask, the matrix
# view), or not expressible on a command line.
NOT_KWARGS = {
    "learning_rate",
    "weight_decay",
    "mask",
    "weight_decay_mask",
    "weight_dimension_numbers",
    "muon_weight_dimension_numbers",
    "ns_coeffs",
}
# Arguments whose default is None, with the type of their values.
NONE_DEFAULT_TYPES = {
    "shampoo_beta": float,
    "precond_init_scale": float,
    "consistent_rms": float,
    "adam_learning_rate": float,
    "mu_dtype": str,
    "nu_dtype": str,
    "precond_dtype": str,
}


def optimizer_kwargs() -> ml_collections.ConfigDict:
    """A field per argument of the optimizers above, unset (None: the default)."""
    fields = {}
    for name in OPTIMIZERS.values():
        factory = tsx.optimizers.registry()[name].factory
        for arg, p in inspect.signature(factory).parameters.items():
            if arg in NOT_KWARGS or p.default is p.empty or arg in fields:
                continue
            kind = NONE_DEFAULT_TYPES.get(arg) or type(p.default)
            fields[arg] = config_dict.placeholder(kind)
    return ml_collections.ConfigDict(fields)


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

    # "train" (resumes from the workdir), "sample" (text from the latest or
    # config.step's checkpoint) or "eval" (the whole validation text).
    config.mode = "train"
    config.step = config_dict.placeholder(int)  # sample/eval: this checkpoint

    config.seed = 0
    config.batch_size = 32
    config.accumulate_steps = 1  # micro-batches of batch_size per update
    config.num_steps = 600
    config.eval_every_steps = 100
    config.eval_batches = 8  # batches of the evaluation during training
    config.log_every_steps = 10
    config.checkpoint_every_steps = 100
    config.dtype = "float32"  # compute dtype: "float32" or "bfloat16"

    # "adamw", "muon", "soap", "shampoo" or "kron" for the layers' matrices;
    # everything else is on AdamW. optimizer_kwargs[optimizer] go to it.
    config.optimizer = "soap"
    config.optimizer_kwargs = optimizer_kwargs()
    config.learning_rate = 6e-3  # AdamW's (and SOAP's, Shampoo's, Kron's)
    config.muon_learning_rate = 0.02  # Muon's own scale
    config.embed_lr_mult = 1.0  # learning-rate multiplier of the embeddings
    config.schedule = "warmup_cosine"  # or "wsd" (warm-up, stable, decay)
    config.warmup_steps = 60
    config.weight_decay = 0.1  # decoupled, kernels and embeddings only
    config.grad_clip = 1.0  # global norm; 0: off
    config.ema_decay = 0.0  # EMA of the params for evaluation; 0: off
    config.ema_warmup = False  # decay min(ema_decay, (1 + n) / (10 + n))

    # Optimizer state in 32, 16, 8 or 4 bits (tsx.quantized_state).
    config.state_bits = 32
    # "bf16": params stored in bfloat16, each weight's rounding error kept in
    # 8 bits by the optimizer (tsx.lowbit.master_weights); "": float32 params.
    config.master_weights = ""
    # A mesh axis over all local devices splits the batch; with zero_axis set
    # ("data") the optimizer state is split over it too (ZeRO-1).
    config.zero_axis = config_dict.placeholder(str)
    # Params split along their width ("embed") axis over the devices (FSDP).
    config.fsdp = False

    config.max_checkpoints_to_keep = 2

    # Sampling: after training (sample_chars bytes, 0: none) and in
    # --config.mode=sample (max_new_bytes per sample).
    config.sample_chars = 200
    config.prompt = ""  # sample mode; empty: a new line
    config.num_samples = 1
    config.max_new_bytes = 500
    config.temperature = 0.8  # 0: greedy
    config.top_k = 0  # keep the k most likely bytes; 0: all
    config.top_p = 1.0  # keep the most likely bytes up to this mass; 1: all
    config.sample_temperature = config_dict.placeholder(float)  # old name
    return config
