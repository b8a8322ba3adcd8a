"""The ImageNet example's ResNets: published parameter counts, dtypes, decay mask.

Shapes only (``jax.eval_shape``): nothing is compiled.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import tsx
from benchmarks import workloads
from examples.imagenet import models

# He et al. (2016) architectures as torchvision counts them (conv kernels
# without bias, BatchNorm scale and bias, a 1000-way dense classifier).
PUBLISHED_PARAMETERS = {
    "ResNet18": 11_689_512,
    "ResNet34": 21_797_672,
    "ResNet50": 25_557_032,
    "ResNet101": 44_549_160,
    "ResNet152": 60_192_808,
}


def _variables(model, size=32):
    return jax.eval_shape(
        lambda: model.init(
            jax.random.PRNGKey(0), jnp.ones((1, size, size, 3)), train=False
        )
    )


def test_resnet50_as_the_optimizer_benchmark_loads_it():
    # benchmarks/workloads.py: ResNet50(num_classes=1000), a 224x224 input.
    params = workloads.resnet50_shapes()
    leaves = jax.tree.leaves(params)
    assert len(leaves) == 161
    assert workloads.param_count(params) == PUBLISHED_PARAMETERS["ResNet50"]
    assert {x.dtype for x in leaves} == {jnp.dtype(jnp.float32)}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_parameter_counts_match_the_published_architectures(name):
    variables = _variables(models.MODELS[name](num_classes=1000))
    count = sum(x.size for x in jax.tree.leaves(variables["params"]))
    assert count == PUBLISHED_PARAMETERS[name]
    # Every BatchNorm keeps a running mean and variance per scale.
    scales = [
        x
        for path, x in jax.tree_util.tree_leaves_with_path(variables["params"])
        if path[-1].key == "scale"
    ]
    assert len(jax.tree.leaves(variables["batch_stats"])) == 2 * len(scales)


def test_width_option_scales_every_stage():
    params = _variables(models.ResNet18(num_classes=10, num_filters=8))["params"]
    assert params["Conv_0"]["kernel"].shape == (7, 7, 3, 8)
    assert params["BasicBlock_7"]["Conv_1"]["kernel"].shape == (3, 3, 64, 64)
    assert params["Dense_0"]["kernel"].shape == (64, 10)


@pytest.mark.parametrize(
    "name, dtype", [("ResNet18", jnp.bfloat16), ("ResNet50", jnp.float16)]
)
def test_half_precision_computes_in_dtype_with_float32_params(name, dtype):
    model = models.MODELS[name](num_classes=1000, dtype=dtype)
    variables = _variables(model)
    x = jnp.ones((2, 32, 32, 3))

    def forward(variables):
        return model.apply(
            variables,
            x,
            train=True,
            mutable=["batch_stats", "intermediates"],
            capture_intermediates=True,
        )

    logits, state = jax.eval_shape(forward, variables)
    assert logits.dtype == jnp.float32  # the loss is computed in float32
    inner = state["intermediates"]
    assert inner["Conv_0"]["__call__"][0].dtype == dtype
    last_block = "BasicBlock_7" if name == "ResNet18" else "BottleneckBlock_15"
    assert inner[last_block]["__call__"][0].dtype == dtype
    for tree in (variables["params"], state["batch_stats"]):
        assert {x.dtype for x in jax.tree.leaves(tree)} == {jnp.dtype(jnp.float32)}


def test_decay_mask_decays_exactly_the_kernels():
    params = workloads.resnet50_shapes()
    mask = tsx.masks.decay_mask(params)
    flat = {
        "/".join(k.key for k in path): flag
        for path, flag in jax.tree_util.tree_leaves_with_path(mask)
    }
    decayed = {p for p, flag in flat.items() if flag}
    # 1 stem + 16 blocks x 3 + 4 projections = 53 convolutions, 1 dense layer.
    assert len(decayed) == 54
    assert all(p.endswith("/kernel") for p in decayed)
    assert all(p.endswith(("/scale", "/bias")) for p in flat.keys() - decayed)


@pytest.mark.parametrize("block_cls", [models.BasicBlock, models.BottleneckBlock])
def test_residual_branches_start_at_zero(block_cls):
    # The last BatchNorm of every block starts with scale 0 (Goyal et al.,
    # 2017), so that each block starts as the identity (plus its projection):
    # at initialisation a block computes relu(shortcut(x)).
    block = block_cls(
        filters=4,
        conv=functools.partial(nn.Conv, use_bias=False),
        norm=functools.partial(nn.BatchNorm, use_running_average=False),
        strides=(2, 2),
    )

    @jax.jit
    def run(x):
        variables = block.init(jax.random.key(0, impl="rbg"), x)
        y, _ = block.apply(variables, x, mutable=["batch_stats"])
        params = variables["params"]
        projected = jax.lax.conv_general_dilated(
            x,
            params["conv_proj"]["kernel"],
            (2, 2),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        shortcut, _ = nn.BatchNorm(use_running_average=False).apply(
            {"params": params["norm_proj"]}, projected, mutable=["batch_stats"]
        )
        return params, y, jax.nn.relu(shortcut)

    x = np.random.default_rng(1).standard_normal((2, 8, 8, 16), np.float32)
    params, y, expected = run(x)
    norms = [k for k in params if k.startswith("BatchNorm_")]
    last = max(norms, key=lambda k: int(k.split("_")[1]))
    assert not jnp.any(params[last]["scale"])
    assert jnp.all(params["BatchNorm_0"]["scale"] == 1)
    np.testing.assert_allclose(y, expected, atol=1e-5)
