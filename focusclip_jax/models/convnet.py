"""A small convolutional image tower, for CPU-sized runs such as the offline demo.

CLIP itself ships convolutional image towers next to its ViTs; this one is deliberately small:
stages of ``conv 3x3 -> ReLU -> (conv 3x3 -> ReLU) -> 2x2 max-pool``, global average pooling,
and a final LayerNorm, so that it drops into FocusCLIP where the ViT goes (same call signature:
images [B,H,W,3] -> (pooled [B,D], feature tokens [B,N,D]), same ``width`` attribute).

Why it exists: a ViT trained from scratch needs far more images and steps than a CPU demo can
afford before it generalises (measured for the demo: a 2-layer ViT memorises 1.3k renders but
stays near chance on held-out ones after 600 steps, where this network generalises); the
convolution's translation equivariance is the inductive bias that small data needs. It is not
part of the paper's recipe (which is ViT-B/16) and only used where a config names it.
"""

from __future__ import annotations

import re
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from focusclip_jax.models import layers

Dtype = Any

# name -> channels per stage (each stage halves the resolution), convolutions per stage.
CONVNET_SIZES = {
    "tiny": dict(channels=(8, 16), convs_per_stage=1),  # unit tests
    "mini": dict(channels=(16, 48, 128), convs_per_stage=1),  # the CPU demo
    "small": dict(channels=(32, 64, 128, 256), convs_per_stage=2),
}


def max_pool_2x2(x):
  """2x2 max-pooling with stride 2 (a trailing odd row/column is dropped, as VALID padding
  does): the values of ``nn.max_pool(x, (2, 2), strides=(2, 2))``, computed as a max over a
  reshaped axis.

  Why not ``nn.max_pool``: its gradient (a reduce-window that carries the argmax's indices)
  took about a third of the demo's step on XLA:CPU; the gradient of a plain max is elementwise
  (BENCHMARKS.md "Demo step: max-pooling"). The two gradients differ only where several
  elements of a window tie for the maximum (reduce-window gives it to one, a max splits it
  evenly); after a ReLU the ties are zeros, whose gradient the ReLU zeroes either way.
  """
  b, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def is_convnet(variant: str) -> bool:
  return variant.startswith("convnet-")


def parse_variant(variant: str) -> dict:
  """``"convnet-mini"`` -> dict(channels=(16, 48, 128), convs_per_stage=1)."""
  m = re.fullmatch(r"convnet-(\w+)", variant)
  if not m or m.group(1) not in CONVNET_SIZES:
    raise ValueError(f"Unknown ConvNet variant {variant!r}: use 'convnet-<size>' with size one "
                     f"of {list(CONVNET_SIZES)}.")
  return dict(CONVNET_SIZES[m.group(1)])


class ConvNet(nn.Module):
  """Images [B,H,W,3] -> (pooled [B,D], tokens [B,h*w,D]); D = channels[-1]."""

  channels: tuple[int, ...] = (32, 64, 128)
  convs_per_stage: int = 1
  ln_eps: float = 1e-6
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @property
  def width(self) -> int:
    return self.channels[-1]

  @nn.compact
  def __call__(self, images, train: bool = False, rows=None):
    del train, rows  # no dropout or batch statistics
    x = images.astype(self.dtype)
    for i, c in enumerate(self.channels):
      for j in range(self.convs_per_stage):
        x = nn.Conv(
            c, (3, 3), padding="SAME", dtype=self.dtype, param_dtype=self.param_dtype,
            kernel_init=layers.partitioned(nn.initializers.he_normal(),
                                           (None, None, None, "embed")),
            bias_init=layers.partitioned(nn.initializers.zeros, ("embed",)),
            name=f"stage{i}_conv{j}")(x)
        x = nn.relu(x)
      x = max_pool_2x2(x)
    b, h, w, d = x.shape
    tokens = x.reshape(b, h * w, d)
    tokens = layers.layer_norm(self.ln_eps, self.dtype, self.param_dtype, "norm")(tokens)
    return jnp.mean(tokens, axis=1), tokens
