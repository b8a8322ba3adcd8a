"""Linen ResNets for ImageNet: ResNet-18/34 (basic blocks), ResNet-50/101/152.

The architecture of He et al., 2016, "Deep Residual Learning for Image
Recognition" (https://arxiv.org/abs/1512.03385), in its common "v1.5" form
(the stride of a bottleneck block sits on its 3x3 convolution, as in Flax's
and torchvision's ResNets):

* stem: 7x7 convolution with 64 filters and stride 2, BatchNorm, ReLU, 3x3
  max-pool with stride 2;
* four stages of residual blocks with ``num_filters * 2**i`` filters (``i`` =
  0..3); the first block of stages 1-3 halves the resolution; a block whose
  input and output shapes differ adds a 1x1 projection (+ BatchNorm) on the
  shortcut;
* global average pooling and a dense classifier.

A basic block is two 3x3 convolutions; a bottleneck block is 1x1 (reduce),
3x3, 1x1 (expand 4x). Convolutions have no bias (BatchNorm follows each). The
last BatchNorm of every block starts with a zero scale, so that each block
starts as the identity (Goyal et al., 2017, "Accurate, Large Minibatch SGD:
Training ImageNet in 1 Hour"), which keeps large-batch training stable.

Parameter counts (``num_filters=64``, 1000 classes): ResNet-18 11,689,512 in
62 arrays; ResNet-50 25,557,032 in 161 arrays.

``dtype`` is the computation dtype (``jnp.bfloat16`` or ``jnp.float16`` for
mixed precision); parameters are always float32 and BatchNorm reduces in
float32. Logits come out in float32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

__all__ = [
    "MODELS",
    "BasicBlock",
    "BottleneckBlock",
    "ResNet",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "ResNet101",
    "ResNet152",
]

# He et al. (2015, "Delving Deep into Rectifiers") initialisation, scaled by
# the output fan as torchvision does for ResNets.
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; ``filters`` output channels."""

    filters: int
    conv: Callable[..., nn.Module]
    norm: Callable[..., nn.Module]
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.conv(self.filters, (3, 3), self.strides)(x)
        y = nn.relu(self.norm()(y))
        y = self.conv(self.filters, (3, 3))(y)
        y = self.norm(scale_init=nn.initializers.zeros_init())(y)
        return nn.relu(_shortcut(self, x, y) + y)


class BottleneckBlock(nn.Module):
    """1x1 reduce to ``filters``, 3x3 (strided), 1x1 expand to ``4 * filters``."""

    filters: int
    conv: Callable[..., nn.Module]
    norm: Callable[..., nn.Module]
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.conv(self.filters, (1, 1))(x)
        y = nn.relu(self.norm()(y))
        y = self.conv(self.filters, (3, 3), self.strides)(y)
        y = nn.relu(self.norm()(y))
        y = self.conv(4 * self.filters, (1, 1))(y)
        y = self.norm(scale_init=nn.initializers.zeros_init())(y)
        return nn.relu(_shortcut(self, x, y) + y)


def _shortcut(block: nn.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    """The identity, or a strided 1x1 projection when the shapes differ."""
    if x.shape == y.shape:
        return x
    x = block.conv(y.shape[-1], (1, 1), block.strides, name="conv_proj")(x)
    return block.norm(name="norm_proj")(x)


class ResNet(nn.Module):
    """A ResNet: stem, ``len(stage_sizes)`` stages of ``block_cls``, classifier.

    Attributes:
      stage_sizes: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
      block_cls: :class:`BasicBlock` or :class:`BottleneckBlock`.
      num_classes: outputs of the classifier.
      num_filters: filters of the stem and the first stage (64 in the paper);
        smaller values give narrow models for tests and CPU smoke runs.
      dtype: computation dtype; parameters stay float32.
      bn_momentum: BatchNorm's running-average decay.
      bn_epsilon: BatchNorm's variance epsilon.
    """

    stage_sizes: Sequence[int]
    block_cls: type[nn.Module]
    num_classes: int = 1000
    num_filters: int = 64
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Logits (float32) for images ``x`` of shape ``[N, H, W, 3]``.

        ``train=True`` normalises with the batch's statistics and updates the
        ``batch_stats`` collection (apply with ``mutable=["batch_stats"]``);
        ``train=False`` uses the running averages.
        """
        conv = functools.partial(
            nn.Conv, use_bias=False, dtype=self.dtype, kernel_init=_conv_init
        )
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            dtype=self.dtype,
        )
        x = jnp.asarray(x, self.dtype)
        x = conv(self.num_filters, (7, 7), (2, 2), padding=[(3, 3), (3, 3)])(x)
        x = nn.relu(norm()(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for stage, num_blocks in enumerate(self.stage_sizes):
            for block in range(num_blocks):
                downsample = stage > 0 and block == 0
                x = self.block_cls(
                    filters=self.num_filters * 2**stage,
                    conv=conv,
                    norm=norm,
                    strides=(2, 2) if downsample else (1, 1),
                )(x)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dense(self.num_classes, dtype=self.dtype)(x)
        return x.astype(jnp.float32)


class ResNet18(ResNet):
    """ResNet-18: basic blocks, stages of (2, 2, 2, 2)."""

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block_cls: type[nn.Module] = BasicBlock


class ResNet34(ResNet):
    """ResNet-34: basic blocks, stages of (3, 4, 6, 3)."""

    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    block_cls: type[nn.Module] = BasicBlock


class ResNet50(ResNet):
    """ResNet-50: bottleneck blocks, stages of (3, 4, 6, 3)."""

    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    block_cls: type[nn.Module] = BottleneckBlock


class ResNet101(ResNet):
    """ResNet-101: bottleneck blocks, stages of (3, 4, 23, 3)."""

    stage_sizes: Sequence[int] = (3, 4, 23, 3)
    block_cls: type[nn.Module] = BottleneckBlock


class ResNet152(ResNet):
    """ResNet-152: bottleneck blocks, stages of (3, 8, 36, 3)."""

    stage_sizes: Sequence[int] = (3, 8, 36, 3)
    block_cls: type[nn.Module] = BottleneckBlock


# The names a config's ``model`` field may take.
MODELS: dict[str, type[ResNet]] = {
    cls.__name__: cls for cls in (ResNet18, ResNet34, ResNet50, ResNet101, ResNet152)
}
