"""FocusCLIP: a CLIP-style dual encoder with a heatmap-highlighted third view.

  e_I = image_proj(ViT(x))
  e_T = text_proj(pool(BERT(ids, mask)))
  e_H = image_proj(ViT(x * (alpha + (1 - alpha) * m)))      (training only; m = heatmap in [0,1])

``alpha`` is a learnable scalar (init 0.5). With ``shared_encoder`` (the reference default)
the highlighted view goes through the *same* ViT and projection, and raw + highlighted images
run as one 2B batch; otherwise a second ViT/projection (``focus_tower``/``focus_proj``) is used.
With ``focus=False`` the module is the CLIP baseline: no alpha, no highlighted view.

Zero-shot inference only needs ``encode_image`` and ``encode_text`` (raw projections, not
L2-normalised; callers normalise).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from focusclip_jax.models import layers
from focusclip_jax.models.bert import BERT
from focusclip_jax.models.vit import ViT

Dtype = Any

ALPHA_PARAMS = ("unconstrained", "sigmoid", "clipped")
# Whose heatmap highlights an example in training. 'subject': its own (the method).
# 'other_example': the heatmap of the next example in the global batch (example i gets
# example i+1's, the last gets the first's) -- a control with the same kind of blobs that do
# not follow the example's person, to tell subject guidance from a second augmented view.
HEATMAP_SOURCES = ("subject", "other_example")
INPUT_NORMS = ("none", "minus_one_one")


def _logit(p: float) -> float:
  if not 0.0 < p < 1.0:
    raise ValueError(f"alpha_init must be in (0, 1) with alpha_param='sigmoid', got {p}")
  return math.log(p) - math.log1p(-p)


def control_heatmaps(heatmaps, source: str):
  """The heatmaps the highlighted view uses (see HEATMAP_SOURCES): [B, H, W, 1] -> same."""
  if source == "subject":
    return heatmaps
  if source == "other_example":
    return jnp.roll(heatmaps, -1, axis=0)  # example i gets example i+1's (global batch)
  raise ValueError(f"heatmap_source {source!r} unknown; choose one of {HEATMAP_SOURCES}")


class FocusCLIP(nn.Module):
  image_tower: ViT
  text_tower: BERT
  embed_dim: int = 512
  focus: bool = True
  shared_encoder: bool = True
  focus_tower: ViT | None = None  # used only when shared_encoder is False
  fused_pass: bool = True  # shared encoder: raw + highlighted images as one 2B batch
  alpha_param: str = "unconstrained"
  alpha_init: float = 0.5
  heatmap_source: str = "subject"
  input_norm: str = "none"
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    if self.alpha_param not in ALPHA_PARAMS:
      raise ValueError(f"alpha_param {self.alpha_param!r} unknown; choose one of {ALPHA_PARAMS}")
    if self.heatmap_source not in HEATMAP_SOURCES:
      raise ValueError(f"heatmap_source {self.heatmap_source!r} unknown; choose one of "
                       f"{HEATMAP_SOURCES}")
    if self.input_norm not in INPUT_NORMS:
      raise ValueError(f"input_norm {self.input_norm!r} unknown; choose one of {INPUT_NORMS}")
    self.image_proj = self._projection(self.image_tower.width, "image_proj")
    self.text_proj = self._projection(self.text_tower.width, "text_proj")
    if self.focus:
      if self.alpha_param == "sigmoid":
        raw_init = _logit(self.alpha_init)
      else:
        raw_init = self.alpha_init
      self.alpha = self.param(
          "alpha", layers.partitioned(nn.initializers.constant(raw_init), ()), (), jnp.float32)
      if not self.shared_encoder:
        if self.focus_tower is None:
          raise ValueError("shared_encoder=False needs a focus_tower (see models.build_model)")
        self.focus_proj = self._projection(self.focus_tower.width, "focus_proj")

  def _projection(self, fan_in: int, name: str) -> nn.Dense:
    # PyTorch nn.Linear default init, as the reference's projections.
    return nn.Dense(
        self.embed_dim,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        kernel_init=layers.partitioned(layers.torch_linear_kernel_init(), ("embed", "proj")),
        bias_init=layers.partitioned(layers.torch_linear_bias_init(fan_in), ("proj",)),
        name=name,
    )

  # ---- the pieces ------------------------------------------------------------------------

  def effective_alpha(self):
    """The alpha that multiplies the background (after the configured parameterisation)."""
    if not self.focus:
      raise ValueError("the CLIP baseline (focus=False) has no alpha")
    if self.alpha_param == "sigmoid":
      return jax.nn.sigmoid(self.alpha)
    if self.alpha_param == "clipped":
      return jnp.clip(self.alpha, 0.0, 1.0)
    return self.alpha

  def highlight(self, images, heatmaps):
    """images [B,H,W,3] in [0,1], heatmaps [B,H,W,1] in [0,1] -> x * (a + (1-a) * m)."""
    a = self.effective_alpha()
    return images.astype(jnp.float32) * (a + (1.0 - a) * heatmaps.astype(jnp.float32))

  def _prepare(self, images):
    images = images.astype(jnp.float32)
    if self.input_norm == "minus_one_one":
      images = (images - 0.5) / 0.5
    return images

  def _image_embed(self, tower, proj, images, train, rows=None):
    pooled, _ = tower(self._prepare(images), train=train, rows=rows)
    return proj(pooled).astype(jnp.float32)

  def encode_image(self, images, train: bool = False, rows=None):
    """images [B,H,W,3] float in [0,1] -> image embeddings [B, embed_dim] (not normalised)."""
    return self._image_embed(self.image_tower, self.image_proj, images, train, rows)

  def encode_text(self, ids, mask, train: bool = False, rows=None):
    """ids, mask [B,L] -> text embeddings [B, embed_dim] (not normalised)."""
    return self.project_text(self.text_features(ids, mask, train=train, rows=rows))

  def text_features(self, ids, mask, train: bool = False, rows=None):
    """ids, mask [B,L] -> the text tower's pooled output [B, text width] (before text_proj)."""
    pooled, _ = self.text_tower(ids, mask, train=train, rows=rows)
    return pooled

  def project_text(self, features):
    """Pooled text-tower output [B, text width] -> text embeddings [B, embed_dim]."""
    return self.text_proj(features).astype(jnp.float32)

  def encode_focus(self, images, heatmaps, train: bool = False, rows=None):
    """Embeddings of the highlighted view (training-time branch)."""
    highlighted = self.highlight(images, heatmaps)
    if self.shared_encoder:
      return self._image_embed(self.image_tower, self.image_proj, highlighted, train, rows)
    return self._image_embed(self.focus_tower, self.focus_proj, highlighted, train, rows)

  # ---- the training forward --------------------------------------------------------------

  def __call__(self, images, text_ids, text_mask, heatmaps=None, train: bool = False,
               text_features=None, rows=None, num_rows=None):
    """Returns {'image': e_I, 'text': e_T[, 'focus': e_H]} (fp32, not normalised).

    ``text_features``: the text tower's pooled output, precomputed (a locked text tower,
    ``config.train.cache_text_features``); ``text_ids``/``text_mask`` are then not read.
    ``rows``/``num_rows``: this batch is the rows ``rows`` (int [B]) of a global batch of
    ``num_rows`` examples whose heatmaps the caller has already passed through
    ``control_heatmaps`` (a micro-batch, focusclip_jax/grad_cache.py): dropout then draws the
    masks those rows get in the global batch's forward.
    """
    if text_features is None:
      out = {"text": self.encode_text(text_ids, text_mask, train=train, rows=rows)}
    else:
      out = {"text": self.project_text(text_features)}
    if not self.focus:
      out["image"] = self.encode_image(images, train=train, rows=rows)
      return out
    if heatmaps is None:
      raise ValueError("FocusCLIP with focus=True needs heatmaps for the training forward")
    if rows is None:
      heatmaps = control_heatmaps(heatmaps, self.heatmap_source)
    if self.shared_encoder and self.fused_pass:
      # One 2B pass through the shared tower: [raw; highlighted] (highlighted example i is
      # row num_rows + i of the global batch's fused pass).
      both = jnp.concatenate(
          [images.astype(jnp.float32), self.highlight(images, heatmaps)], axis=0)
      both_rows = None if rows is None else jnp.concatenate([rows, rows + num_rows])
      emb = self._image_embed(self.image_tower, self.image_proj, both, train, both_rows)
      out["image"], out["focus"] = jnp.split(emb, 2, axis=0)
    else:
      out["image"] = self.encode_image(images, train=train, rows=rows)
      out["focus"] = self.encode_focus(images, heatmaps, train=train, rows=rows)
    return out
