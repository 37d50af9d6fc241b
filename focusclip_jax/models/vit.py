"""ViT image tower (Dosovitskiy et al.), as timm's ``vit_*_patch*`` / Google's AugReg models.

Patch conv -> [cls] + patches -> + learned position embedding -> pre-LN encoder
(qkv bias, LayerNorm eps 1e-6, exact GELU) -> final LayerNorm -> pooled output:
``token`` = the class-token state after the final LayerNorm (what FocusCLIP's reference,
timm ``num_classes=0, global_pool='token'``, returns) or ``gap`` = mean of the patch states.

The position embedding is stored for a ``posemb_grid`` x ``posemb_grid`` patch grid (14 for
224 px / 16) and bicubically resampled on the fly when the input's grid differs.
"""

from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from focusclip_jax.models import layers


# name -> width, depth, mlp_dim, num_heads.  "micro" (one block: configs/tiny.py) and "tiny"
# (two blocks, for tests of how blocks stack) are the unit-test variants, "mini" the demo's.
VIT_SIZES = {
    "micro": dict(width=32, depth=1, mlp_dim=64, num_heads=2),
    "tiny": dict(width=32, depth=2, mlp_dim=64, num_heads=2),
    "mini": dict(width=128, depth=4, mlp_dim=512, num_heads=4),  # the CPU demo
    "Ti": dict(width=192, depth=12, mlp_dim=768, num_heads=3),
    "S": dict(width=384, depth=12, mlp_dim=1536, num_heads=6),
    "B": dict(width=768, depth=12, mlp_dim=3072, num_heads=12),
    "L": dict(width=1024, depth=24, mlp_dim=4096, num_heads=16),
    "H": dict(width=1280, depth=32, mlp_dim=5120, num_heads=16),
}
POOLS = ("token", "gap")


def parse_variant(variant: str) -> dict:
  """``"B/16"`` -> dict(width=768, depth=12, mlp_dim=3072, num_heads=12, patch_size=16)."""
  m = re.fullmatch(r"(\w+)/(\d+)", variant)
  if not m or m.group(1) not in VIT_SIZES:
    raise ValueError(
        f"Unknown ViT variant {variant!r}: use '<size>/<patch>' with size one of "
        f"{list(VIT_SIZES)}, e.g. 'B/16' or 'L/14'.")
  return dict(VIT_SIZES[m.group(1)], patch_size=int(m.group(2)))


def resample_posemb(posemb, new_hw: tuple[int, int], num_prefix: int = 1):
  """Resamples a (1, prefix + g*g, D) position embedding to a (h, w) patch grid (bicubic).

  Works on numpy and jax arrays; the prefix (class-token) rows are kept as they are.
  """
  xp = jnp if isinstance(posemb, jax.Array) else np
  prefix, grid = posemb[:, :num_prefix], posemb[:, num_prefix:]
  n = grid.shape[1]
  g = int(round(n**0.5))
  if g * g != n:
    raise ValueError(f"position embedding with {n} patch positions is not a square grid")
  if (g, g) == tuple(new_hw):
    return posemb
  d = grid.shape[-1]
  grid = jax.image.resize(
      jnp.asarray(grid).reshape(g, g, d).astype(jnp.float32), (*new_hw, d), method="cubic")
  grid = grid.reshape(1, new_hw[0] * new_hw[1], d).astype(posemb.dtype)
  if xp is np:
    grid = np.asarray(grid)
  return xp.concatenate([prefix, grid], axis=1)


class ViT(layers.StackFields):
  """Vision Transformer. Input: images [B, H, W, 3]. Returns (pooled [B, D], tokens [B, 1+N, D]).

  Block and stack hyperparameters (depth, heads, mlp_dim, ln_eps 1e-6, dropout 0, scan, remat,
  dtypes) are the fields of ``layers.StackFields``.
  """

  width: int = 768
  patch_size: int = 16
  posemb_grid: int = 14
  pool: str = "token"

  @nn.compact
  def __call__(self, images, train: bool = False, rows=None):
    """``rows``: the global batch rows of ``images`` (layers.Dropout)."""
    if self.pool not in POOLS:
      raise ValueError(f"pool {self.pool!r} unknown; choose one of {POOLS}")
    p = self.patch_size
    x = nn.Conv(
        self.width,
        (p, p),
        strides=(p, p),
        padding="VALID",
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        kernel_init=layers.partitioned(nn.initializers.lecun_normal(), (None, None, None, "embed")),
        bias_init=layers.partitioned(nn.initializers.zeros, ("embed",)),
        name="embedding",
    )(images.astype(self.dtype))
    b, h, w, d = x.shape
    x = x.reshape(b, h * w, d)
    cls = self.param(
        "cls", layers.partitioned(nn.initializers.zeros, (None, None, "embed")), (1, 1, d),
        self.param_dtype)
    posemb = self.param(
        "pos_embedding",
        layers.partitioned(nn.initializers.normal(0.02), (None, None, "embed")),
        (1, 1 + self.posemb_grid**2, d),
        self.param_dtype,
    )
    posemb = resample_posemb(posemb, (h, w), num_prefix=1)
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(self.dtype), (b, 1, d)), x], axis=1)
    x = x + posemb[0].astype(self.dtype)  # broadcast over the batch
    x = nn.with_logical_constraint(x, layers.ACT_AXES)
    x = layers.Dropout(rate=self.dropout, bits=self.dropout_bits)(x, not train, rows)
    x = layers.tower_encoder(self, pre_norm=True)(x, None, not train, rows)
    x = layers.layer_norm(self.ln_eps, self.dtype, self.param_dtype, "encoder_norm")(x)
    pooled = x[:, 0] if self.pool == "token" else jnp.mean(x[:, 1:], axis=1)
    return pooled, x
