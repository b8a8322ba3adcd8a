"""Parameter trees the optimizer benchmarks run on.

Shapes only matter for an optimizer step, so each workload is a tree of
``jax.ShapeDtypeStruct``; the benchmark fills it with random values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def resnet50_shapes() -> dict:
    """ResNet-50's parameters (25.6M in 161 leaves), from the ImageNet example."""
    from examples.imagenet.models import ResNet50

    model = ResNet50(num_classes=1000)
    variables = jax.eval_shape(
        lambda: model.init(
            jax.random.PRNGKey(0), jnp.ones((1, 224, 224, 3)), train=False
        )
    )
    return variables["params"]


def gpt2_small_shapes(dtype=jnp.float32) -> dict:
    """GPT-2 small (124M parameters): embeddings, 12 blocks, final norm."""
    d, vocab, ctx, layers = 768, 50257, 1024, 12
    s = lambda *shape: jax.ShapeDtypeStruct(shape, dtype)  # noqa: E731

    def block():
        return {
            "ln_1": {"scale": s(d), "bias": s(d)},
            "attn": {
                "c_attn": {"kernel": s(d, 3 * d), "bias": s(3 * d)},
                "c_proj": {"kernel": s(d, d), "bias": s(d)},
            },
            "ln_2": {"scale": s(d), "bias": s(d)},
            "mlp": {
                "c_fc": {"kernel": s(d, 4 * d), "bias": s(4 * d)},
                "c_proj": {"kernel": s(4 * d, d), "bias": s(d)},
            },
        }

    return {
        "wte": {"embedding": s(vocab, d)},
        "wpe": {"embedding": s(ctx, d)},
        **{f"h_{i}": block() for i in range(layers)},
        "ln_f": {"scale": s(d), "bias": s(d)},
    }


def many_small_leaves(n: int = 2000, size: int = 1000, dtype=jnp.float32) -> dict:
    """``n`` leaves of ``size`` parameters (2M in all): per-leaf overhead dominates."""
    return {f"leaf_{i:04d}": jax.ShapeDtypeStruct((size,), dtype) for i in range(n)}


WORKLOADS = {
    "resnet50": resnet50_shapes,
    "gpt2_small": gpt2_small_shapes,
    "small_leaves_2000": many_small_leaves,
}


def materialize(shapes, seed: int = 0):
    """Random arrays with the given shapes (params ~ N(0, 0.02), like an init)."""
    leaves, treedef = jax.tree.flatten(shapes)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    arrays = [
        (0.02 * jax.random.normal(k, x.shape, jnp.float32)).astype(x.dtype)
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, arrays)


def param_count(shapes) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(shapes))
