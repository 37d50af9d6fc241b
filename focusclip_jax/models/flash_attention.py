"""Fused attention on TPU: the Pallas flash-attention kernel behind ``Attention``.

``config.model.text.attention_kernel = 'pallas_tpu'`` computes the text tower's attention with
``jax.experimental.pallas.ops.tpu.flash_attention``: scores, softmax and the weighted sum in
one kernel, tile by tile, so the [batch, heads, queries, keys] score and probability arrays
(and their gradients) never reach HBM; the backward pass recomputes them from the kernel's
per-row softmax statistics. Padded keys are excluded by segment ids (queries: all 1; keys: the
text mask), which is exactly the additive mask of the 'xla' path: every query, padded or not,
attends to the real keys only. Rows without any real key do not occur (every tokenised text
holds at least [CLS] and [SEP]).

What it does not do, hence a switch and not the default (docs/method.md §10.3):
- attention dropout (the reference's BERT drops 10% of the attention probabilities): the
  config requires ``model.text.attention_dropout = 0`` with this kernel;
- sequence and key lengths that are not multiples of the kernel's 128-wide tiles (the config
  checks ``max_length`` and the attention buckets; the ViT's 197 tokens are not, so the image
  tower keeps 'xla');
- other platforms: it runs on TPU only (``sharding.create_mesh`` rejects it elsewhere; tests
  run it in Pallas's TPU interpret mode on CPU).

A Mosaic kernel cannot be partitioned by the SPMD partitioner, so under a mesh it runs inside
``jax.shard_map`` over the batch's mesh axes (the logical ``act_batch`` axis); heads and
sequence stay whole per device.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu import flash_attention as pallas_flash
from jax.sharding import PartitionSpec as P

KERNELS = ("xla", "pallas_tpu")  # config.model.text.attention_kernel
TILE = 128  # the kernel's default block size along queries and keys


def _kernel(q, k, v, q_segments, kv_segments, scale):
  """[b, h, t, d] inputs -> [b, h, t, d] (the kernel's layout)."""
  return pallas_flash.flash_attention(
      q, k, v, segment_ids=pallas_flash.SegmentIds(q_segments, kv_segments), sm_scale=scale)


def attend(q, k, v, kv_mask, scale: float):
  """Softmax attention of ``q`` [b, t, h, d] over ``k``, ``v`` [b, s, h, d], keys where
  ``kv_mask`` [b, s] is 0 excluded (None: all keys), scores scaled by ``scale``; returns
  [b, t, h, d] in ``q``'s dtype. ``t`` and ``s`` must be multiples of 128."""
  b, t, _, _ = q.shape
  s = k.shape[1]
  for name, n in (("query", t), ("key", s)):
    if n % TILE:
      raise ValueError(
          f"attention kernel 'pallas_tpu': {name} length {n} is not a multiple of {TILE}; "
          "use lengths (config.model.text.max_length, attention_buckets) that are, or "
          "attention_kernel='xla'")
  to_kernel = lambda x: jnp.swapaxes(x, 1, 2)  # pylint: disable=unnecessary-lambda-assignment
  q_segments = jnp.ones((b, t), jnp.int32)
  kv_segments = (jnp.ones((b, s), jnp.int32) if kv_mask is None
                 else (kv_mask != 0).astype(jnp.int32))
  args = (to_kernel(q), to_kernel(k), to_kernel(v), q_segments, kv_segments)
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:  # no mesh context: one device (or arrays it already holds whole)
    out = _kernel(*args, scale)
  else:
    batch = nn.logical_to_mesh_axes(("act_batch",))[0]  # the config's rules (mesh_context)
    spec4, spec2 = P(batch, None, None, None), P(batch, None)
    out = jax.shard_map(lambda *a: _kernel(*a, scale), mesh=mesh,
                        in_specs=(spec4, spec4, spec4, spec2, spec2), out_specs=spec4,
                        check_vma=False)(*args)
  return to_kernel(out)
