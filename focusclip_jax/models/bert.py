"""BERT text tower (Devlin et al.), numerically equal to transformers' ``BertModel`` (no pooler).

word + position + token-type embeddings -> LayerNorm (eps 1e-12) -> dropout -> post-LN
encoder (exact GELU) -> last hidden states -> pooling:

  ``mean_all``    mean over all positions, padding included (FocusCLIP's reference: an
                  ``AdaptiveAvgPool1d`` over the 512 padded positions);
  ``mean_masked`` mean over the real (mask == 1) tokens only;
  ``cls``         the [CLS] state.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from focusclip_jax.models import layers


# name -> width, depth, num_heads, mlp_dim.  "micro" (one layer: configs/tiny.py) and "tiny"
# (two layers, for tests of how layers stack) are the unit-test variants, "mini" the demo's.
BERT_SIZES = {
    "micro": dict(width=32, depth=1, num_heads=2, mlp_dim=64),
    "tiny": dict(width=32, depth=2, num_heads=2, mlp_dim=64),
    "mini": dict(width=128, depth=2, num_heads=4, mlp_dim=512),  # the CPU demo
    "minilm-l6": dict(width=384, depth=6, num_heads=12, mlp_dim=1536),
    "bert-base": dict(width=768, depth=12, num_heads=12, mlp_dim=3072),
    "bert-large": dict(width=1024, depth=24, num_heads=16, mlp_dim=4096),
}
POOLINGS = ("mean_all", "mean_masked", "cls")


def parse_variant(variant: str) -> dict:
  if variant not in BERT_SIZES:
    raise ValueError(f"Unknown BERT variant {variant!r}; choose one of {list(BERT_SIZES)}.")
  return dict(BERT_SIZES[variant])


def pool_tokens(hidden, mask, pooling: str):
  """Pools [B, L, D] hidden states with a [B, L] 0/1 mask."""
  if pooling == "mean_all":
    return jnp.mean(hidden, axis=1)
  if pooling == "mean_masked":
    m = mask.astype(hidden.dtype)[..., None]
    return jnp.sum(hidden * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1)
  if pooling == "cls":
    return hidden[:, 0]
  raise ValueError(f"pooling {pooling!r} unknown; choose one of {POOLINGS}")


class BERT(layers.StackFields):
  """BERT encoder. Input: ids, mask [B, L] ints. Returns (pooled [B, D], hidden [B, L, D]).

  Block and stack hyperparameters are the fields of ``layers.StackFields``; BERT's own
  defaults: LayerNorm eps 1e-12, dropout 0.1 (hidden and attention).
  """

  vocab_size: int = 30522
  max_positions: int = 512
  type_vocab_size: int = 2
  width: int = 768
  ln_eps: float = 1e-12
  dropout: float = 0.1
  attention_dropout: float = 0.1
  pooling: str = "mean_all"

  @nn.compact
  def __call__(self, ids, mask, train: bool = False, token_type_ids=None, rows=None):
    """``rows``: the global batch rows of ``ids`` (layers.Dropout)."""
    if self.pooling not in POOLINGS:
      raise ValueError(f"pooling {self.pooling!r} unknown; choose one of {POOLINGS}")
    seq_len = ids.shape[1]
    if seq_len > self.max_positions:
      raise ValueError(
          f"text length {seq_len} exceeds the {self.max_positions} position embeddings; "
          "lower config.model.text.max_length")
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(ids)

    def embed(num, names, name):
      return nn.Embed(
          num,
          self.width,
          dtype=self.dtype,
          param_dtype=self.param_dtype,
          embedding_init=layers.partitioned(nn.initializers.normal(0.02), names),
          name=name,
      )

    x = embed(self.vocab_size, ("vocab", "embed"), "word_embeddings")(ids)
    # Position rows are added without a batch axis (broadcast), so their gradient needs no
    # reduction across a batch-sharded axis of size 1.
    positions = embed(self.max_positions, (None, "embed"), "position_embeddings").embedding
    x = x + positions[:seq_len].astype(self.dtype)
    x = x + embed(self.type_vocab_size, (None, "embed"), "token_type_embeddings")(token_type_ids)
    x = nn.with_logical_constraint(x, layers.ACT_AXES)
    x = layers.layer_norm(self.ln_eps, self.dtype, self.param_dtype, "embeddings_ln")(x)
    x = nn.with_logical_constraint(x, layers.ACT_AXES)
    x = layers.Dropout(rate=self.dropout, bits=self.dropout_bits)(x, not train, rows)
    x = layers.tower_encoder(self, pre_norm=False)(x, mask.astype(bool), not train, rows)
    return pool_tokens(x, mask, self.pooling), x
