"""Where the image tower looks: its class token's attention over the image patches.

For a ViT image tower, ``image_attention`` returns per image a [h, w] map over the patch grid
(summing to one) from the attention probabilities the blocks keep when asked
(``layers.Attention`` sows them into the 'intermediates' collection; nothing is kept in
training):

  'last'     the last block's class-token row, averaged over heads, restricted to the
             patches and renormalised;
  'rollout'  attention rollout (Abnar & Zuidema 2020): per block the head-averaged attention
             mixed with the identity for the residual, 0.5 A + 0.5 I, rows renormalised,
             multiplied from the first block to the last; then the class-token row over
             the patches, renormalised.

The Colab notebook shows it beside the heatmap, to see whether a trained FocusCLIP attends to
the person.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("last", "rollout")


def _stacked_probs(intermediates, depth: int) -> jnp.ndarray:
  """[depth, B, heads, Q, K] attention probabilities of the image tower's blocks."""
  encoder = intermediates["image_tower"]["encoder"]
  if "layers" in encoder:  # nn.scan over the blocks: one stacked entry
    return encoder["layers"]["attn"]["attention_probs"][0]
  return jnp.stack([encoder[f"block_{i}"]["attn"]["attention_probs"][0] for i in range(depth)])


def image_attention(model, params, images, method: str = "rollout") -> np.ndarray:
  """images [B, H, W, 3] in [0, 1] -> [B, h, w] class-token attention over the patch grid
  (each map sums to one). ``model``: a FocusCLIP whose image tower is a ViT."""
  if method not in METHODS:
    raise ValueError(f"method {method!r} unknown; choose one of {METHODS}")
  tower = model.image_tower
  if not hasattr(tower, "patch_size"):
    raise ValueError(f"the image tower ({type(tower).__name__}) has no attention to show; "
                     "attention maps need a ViT image tower")

  @jax.jit
  def run(params, images):
    _, state = model.apply({"params": params}, images, method=model.encode_image,
                           mutable=["intermediates"])
    probs = _stacked_probs(state["intermediates"], tower.depth).astype(jnp.float32)
    a = probs.mean(axis=2)  # heads: [depth, B, T, T]
    if method == "last":
      row = a[-1][:, 0, 1:]
    else:
      eye = jnp.eye(a.shape[-1], dtype=a.dtype)
      rollout = jnp.broadcast_to(eye, a.shape[1:])
      for layer in range(a.shape[0]):
        mixed = 0.5 * a[layer] + 0.5 * eye
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
      row = rollout[:, 0, 1:]
    return row / row.sum(axis=-1, keepdims=True)

  rows = np.asarray(run(params, jnp.asarray(images, jnp.float32)))
  side = images.shape[1] // tower.patch_size, images.shape[2] // tower.patch_size
  return rows.reshape(len(rows), *side)
