"""Transformer building blocks shared by the ViT image tower and the BERT text tower.

Every parameter carries logical axis names (``nn.with_logical_partitioning``) and every
block output a logical activation constraint, so the train step can shard both with a
rules table from the config (``config.sharding.logical_axis_rules``):

  parameters:  embed, mlp, heads, kv, vocab, layers (added by ``nn.scan``), proj
  activations: act_batch, act_seq, act_embed
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np

from focusclip_jax.models import flash_attention

Dtype = Any

# Logical names of block activations: (batch, sequence, width).
ACT_AXES = ("act_batch", "act_seq", "act_embed")

REMAT_POLICIES = {
    "none": None,  # no rematerialisation
    "full": "full",  # save nothing inside a block, recompute it in the backward pass
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


def partitioned(init, names):
  return nn.with_logical_partitioning(init, names)


def torch_linear_kernel_init():
  """PyTorch's default ``nn.Linear`` weight init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  return nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias_init(fan_in: int):
  """PyTorch's default ``nn.Linear`` bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / (fan_in**0.5)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def layer_norm(eps: float, dtype: Dtype, param_dtype: Dtype, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(
      epsilon=eps,
      dtype=dtype,
      param_dtype=param_dtype,
      scale_init=partitioned(nn.initializers.ones, ("embed",)),
      bias_init=partitioned(nn.initializers.zeros, ("embed",)),
      name=name,
  )


def _flat_init(init, num_in_dims: int):
  """Initialises an N-d kernel as its 2-d (fan_in, fan_out) matrix, then reshapes it.

  (What ``nn.DenseGeneral`` does internally; done here so the logical-partitioning box is
  created on the final shape, which keeps sharding constraints valid inside a mesh.)
  """
  def wrapped(key, shape, dtype=jnp.float32):
    fan_in = int(np.prod(shape[:num_in_dims]))
    return init(key, (fan_in, int(np.prod(shape[num_in_dims:]))), dtype).reshape(shape)
  return wrapped


DROPOUT_BITS = (16, 32)


class Dropout(nn.Module):
  """Inverted dropout whose keep/drop decisions cost ``bits`` random bits per element.

  bits=32: flax's ``nn.Dropout`` (a float uniform per element compared with 1 - rate; one
  threefry evaluation per element). bits=16: each 32-bit random word decides two elements
  (keep where a 16-bit half < round((1 - rate) * 65536)), so half the threefry evaluations;
  the drop probability is quantised to 1/65536 (0.1 -> 0.1000061) and the kept values are
  scaled by the exact inverse of the quantised keep probability. An element's decision is a
  function of the key and its position in the *global* array, on any mesh and process count
  (threefry is partitionable, JAX's default; rbg is generated whole). The train step's key is
  a function of (seed, step) and the pipeline puts each example at a global batch row that is
  a function of (seed, step) too, so the masks of an example at a step are the same for any
  number of processes and devices. Dropout over BERT's attention maps is most of
  the random numbers of the paper step (151M per step at batch 4), so halving the random-number
  work is visible in the step time (BENCHMARKS.md, "Train step (CPU)").

  ``rows``: the rows of a larger array that ``x`` holds (int [x.shape[0]], the global row of
  each of its rows). The decisions are then those the same key makes for the array of all
  rows, computed for these rows only (threefry keys; see ``bits_at_rows``): a micro-batch of
  the gradient-accumulated step (focusclip_jax/grad_cache.py) gets exactly the masks its
  examples get in the unaccumulated step.
  """

  rate: float
  bits: int = 32

  @nn.compact
  def __call__(self, x, deterministic: bool, rows=None):
    if self.bits not in DROPOUT_BITS:
      raise ValueError(f"dropout bits {self.bits} unsupported; choose one of {DROPOUT_BITS}")
    if deterministic or self.rate == 0.0:
      return x
    if self.rate >= 1.0:
      return jnp.zeros_like(x)
    rng = self.make_rng("dropout")
    if self.bits == 32:
      keep_prob = 1.0 - self.rate
      if rows is None:
        keep = jax.random.bernoulli(rng, keep_prob, x.shape)
      else:
        keep = uniform_from_bits(bits_at_rows(rng, x.shape, rows)) < np.float32(keep_prob)
    else:
      threshold = int(round((1.0 - self.rate) * 65536))
      if threshold >= 65536:
        return x
      threshold = max(threshold, 1)
      keep_prob = threshold / 65536
      last = x.shape[-1]
      words_shape = x.shape[:-1] + ((last + 1) // 2,)
      words = (jax.random.bits(rng, words_shape, jnp.uint32) if rows is None
               else bits_at_rows(rng, words_shape, rows))
      halves = jax.lax.bitcast_convert_type(words, jnp.uint16)  # [..., ceil(last/2), 2]
      halves = halves.reshape(x.shape[:-1] + (2 * ((last + 1) // 2),))[..., :last]
      keep = halves < np.uint16(threshold)
    return jnp.where(keep, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros((), x.dtype))


def bits_at_rows(key, shape, rows):
  """``jax.random.bits(key, (N,) + shape[1:], uint32)[rows]`` for a threefry key, computed
  for those rows only (N > max(rows); ``shape[0] == len(rows)``).

  With partitionable threefry (JAX's default) element n of the row-major flattened array gets
  the bits ``h ^ l`` of ``(h, l) = threefry2x32(key, n)`` with n a 64-bit counter; here
  n = row * prod(shape[1:]) + offset, its high and low 32-bit words built exactly in uint32
  arithmetic (16-bit limbs). tests/test_grad_cache.py checks it against ``jax.random.bits``.
  """
  impl = str(jax.random.key_impl(key))
  if impl != "threefry2x32":
    raise ValueError(
        f"dropout masks of a slice of the batch need a threefry2x32 key, not {impl} (rbg "
        "generates a whole array at once); set config.train.dropout_rng='threefry2x32'")
  per_row = math.prod(shape[1:])
  if per_row >= 2**32:
    raise ValueError(f"rows of {per_row} elements exceed the 32-bit offset of bits_at_rows")
  u32 = functools.partial(jnp.asarray, dtype=jnp.uint32)
  row = u32(rows)
  a_lo, a_hi = row & u32(0xFFFF), row >> u32(16)
  b_lo, b_hi = u32(per_row & 0xFFFF), u32(per_row >> 16)
  p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi  # each < 2**32
  mid = (p0 >> u32(16)) + (p1 & u32(0xFFFF)) + (p2 & u32(0xFFFF))
  start_lo = (p0 & u32(0xFFFF)) | (mid << u32(16))
  start_hi = p3 + (p1 >> u32(16)) + (p2 >> u32(16)) + (mid >> u32(16))
  expand = (-1,) + (1,) * (len(shape) - 1)
  start_lo, start_hi = start_lo.reshape(expand), start_hi.reshape(expand)
  offset = jax.lax.iota(jnp.uint32, per_row).reshape((1,) + tuple(shape[1:]))
  lo = start_lo + offset  # wraps modulo 2**32; the carry goes to the high word
  hi = start_hi + (lo < start_lo).astype(jnp.uint32)
  data = jax.random.key_data(key)
  b1, b2 = jax.extend.random.threefry2x32_p.bind(data[0], data[1], hi, lo)
  return b1 ^ b2


def uniform_from_bits(bits):
  """float32 uniforms in [0, 1) from uint32 bits, as ``jax.random.uniform`` makes them (the
  23 high bits as the mantissa of a float in [1, 2), minus 1)."""
  one = np.array(1.0, np.float32).view(np.uint32)
  floats = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | one, jnp.float32) - 1.0
  return jnp.maximum(floats, 0.0)


class HeadsProjection(nn.Module):
  """x [..., D] -> [..., H, hd] (direction 'in') or x [..., H, hd] -> [..., D] ('out')."""

  shape: tuple[int, ...]  # kernel shape: (D, H, hd) for 'in', (H, hd, D) for 'out'
  direction: str
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.direction == "in":
      names, bias_names, n_in, eq = ("embed", "heads", "kv"), ("heads", "kv"), 1, "...d,dhk->...hk"
      bias_shape = self.shape[1:]
    else:
      names, bias_names, n_in, eq = ("heads", "kv", "embed"), ("embed",), 2, "...hk,hkd->...d"
      bias_shape = self.shape[2:]
    kernel = self.param(
        "kernel", partitioned(_flat_init(nn.initializers.xavier_uniform(), n_in), names),
        self.shape, self.param_dtype)
    bias = self.param("bias", partitioned(nn.initializers.zeros, bias_names), bias_shape,
                      self.param_dtype)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    return jnp.einsum(eq, x, kernel) + bias


class Attention(nn.Module):
  """Multi-head self-attention with q/k/v/out projections (all with bias).

  Kernels are stored per head, (width, heads, head_dim), as in big_vision / flax, which is
  also the layout of the AugReg ``.npz`` checkpoints.
  """

  num_heads: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  dropout_bits: int = 32
  # > 0: keys and values of the first kv_length positions only (every query still attends).
  # Exact when the mask is 0 beyond them: a masked key gets no weight. focusclip_jax/
  # text_buckets.py chooses it per batch and checks the mask on the host.
  kv_length: int = 0
  # 'xla': scores, fp32 softmax and dropout as below (the reference's computation);
  # 'pallas_tpu': the fused Pallas flash-attention kernel on TPU, without attention dropout
  # (focusclip_jax/models/flash_attention.py). Attention maps asked for with
  # mutable=['intermediates'] always come from the 'xla' path (the kernel never forms them).
  kernel: str = "xla"

  @nn.compact
  def __call__(self, x, mask=None, deterministic: bool = True, rows=None):
    width = x.shape[-1]
    if width % self.num_heads:
      raise ValueError(f"width {width} is not divisible by num_heads {self.num_heads}")
    head_dim = width // self.num_heads
    proj = functools.partial(HeadsProjection, (width, self.num_heads, head_dim), "in",
                             self.dtype, self.param_dtype)
    q = proj(name="query")(x)
    kv = x
    if 0 < self.kv_length < x.shape[1]:
      kv = x[:, :self.kv_length]
      mask = None if mask is None else mask[:, :self.kv_length]
    k = proj(name="key")(kv)
    v = proj(name="value")(kv)
    if self.kernel not in flash_attention.KERNELS:
      raise ValueError(f"attention kernel {self.kernel!r} unknown; choose one of "
                       f"{flash_attention.KERNELS}")
    if self.kernel == "pallas_tpu" and not self.is_mutable_collection("intermediates"):
      if self.dropout and not deterministic:
        raise ValueError("attention kernel 'pallas_tpu' has no attention dropout: set the "
                         "tower's attention_dropout to 0 (config.model.text.attention_dropout)"
                         " or use attention_kernel='xla'")
      out = flash_attention.attend(q, k, v, mask, 1.0 / math.sqrt(head_dim))
    else:
      out = self._attend(q, k, v, mask, deterministic, rows)
    return HeadsProjection((self.num_heads, head_dim, width), "out", self.dtype,
                           self.param_dtype, name="out")(out)

  def _attend(self, q, k, v, mask, deterministic, rows):
    """Scores, fp32 softmax, dropout and the weighted sum ('xla')."""
    head_dim = q.shape[-1]
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head_dim).astype(q.dtype)
    # Softmax in fp32 whatever the compute dtype.
    scores = scores.astype(jnp.float32)
    if mask is not None:
      scores = jnp.where(mask[:, None, None, :], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
    # Kept only when the caller asks for it (apply(..., mutable=['intermediates'])); a no-op
    # otherwise: focusclip_jax/attention_maps.py reads it.
    self.sow("intermediates", "attention_probs", probs)
    probs = Dropout(rate=self.dropout, bits=self.dropout_bits)(probs, deterministic, rows)
    return jnp.einsum("bhqk,bkhd->bqhd", probs, v)


def gelu(x):
  """Exact (erf) GELU in PyTorch's formulation, ``0.5 * x * (1 + erf(x / sqrt(2)))``.

  ``jax.nn.gelu(approximate=False)`` computes the same function as ``x * erfc(-x / sqrt(2)) / 2``;
  XLA:CPU expands ``erfc`` into an exponential and two branches that do not fuse into one
  loop, a visible share of the paper recipe's step (BENCHMARKS.md, "Where the time goes").
  ``erf`` is one polynomial, and this is also the formula of the reference's ``torch.nn.GELU``
  and HF BERT's ``gelu``. It agrees with ``torch.nn.functional.gelu`` and the erfc form to
  1e-6 absolute (the difference is fp32 cancellation in ``1 + erf`` for x < -2.5, where GELU
  is > -0.01; tests/test_models.py).
  """
  return 0.5 * x * (1.0 + jax.lax.erf(x * np.asarray(0.7071067811865476, x.dtype)))


class MlpBlock(nn.Module):
  """Dense(mlp_dim) -> exact GELU -> Dense(width)."""

  mlp_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    def dense(features, axes, name):
      return nn.Dense(
          features,
          dtype=self.dtype,
          param_dtype=self.param_dtype,
          kernel_init=partitioned(nn.initializers.xavier_uniform(), axes),
          bias_init=partitioned(nn.initializers.normal(1e-6), axes[1:]),
          name=name,
      )

    width = x.shape[-1]
    x = gelu(dense(self.mlp_dim, ("embed", "mlp"), "fc1")(x))
    return dense(width, ("mlp", "embed"), "fc2")(x)


class BlockFields(nn.Module):
  """The hyperparameters of one transformer block, shared by the block, the stack and the
  towers (a field base class: ``tower_encoder`` passes them on by name)."""

  num_heads: int = 12
  mlp_dim: int = 3072
  ln_eps: float = 1e-6
  dropout: float = 0.0
  attention_dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  dropout_bits: int = 32  # Dropout: 32 = flax's Bernoulli, 16 = half the random bits
  kv_length: int = 0  # attention over the first kv_length keys (0: all; see Attention)
  attention_kernel: str = "xla"  # 'xla' | 'pallas_tpu' (models/flash_attention.py)


class StackFields(BlockFields):
  """BlockFields plus how many blocks and how they are compiled (scan, rematerialisation)."""

  depth: int = 12
  scan: bool = False
  remat_policy: str = "none"


class EncoderBlock(BlockFields):
  """One transformer block, pre-LN (ViT) or post-LN (BERT).

  pre-LN:  x = x + drop(attn(ln_attn(x)));  x = x + drop(mlp(ln_mlp(x)))
  post-LN: x = ln_attn(x + drop(attn(x)));  x = ln_mlp(x + drop(mlp(x)))

  Returns ``(x, None)`` so it can be the body of ``nn.scan``.
  """

  pre_norm: bool = True

  @nn.compact
  def __call__(self, x, mask, deterministic: bool, rows=None):
    ln = functools.partial(layer_norm, self.ln_eps, self.dtype, self.param_dtype)
    attn = Attention(self.num_heads, self.attention_dropout, self.dtype, self.param_dtype,
                     dropout_bits=self.dropout_bits, kv_length=self.kv_length,
                     kernel=self.attention_kernel, name="attn")
    mlp = MlpBlock(self.mlp_dim, self.dtype, self.param_dtype, name="mlp")
    dropout = Dropout(rate=self.dropout, bits=self.dropout_bits)
    drop = lambda y: dropout(y, deterministic, rows)  # pylint: disable=unnecessary-lambda-assignment
    if self.pre_norm:
      x = x + drop(attn(ln(name="ln_attn")(x), mask, deterministic, rows))
      x = x + drop(mlp(ln(name="ln_mlp")(x)))
    else:
      x = ln(name="ln_attn")(x + drop(attn(x, mask, deterministic, rows)))
      x = ln(name="ln_mlp")(x + drop(mlp(x)))
    x = nn.with_logical_constraint(x, ACT_AXES)
    return x, None


class TransformerEncoder(StackFields):
  """A stack of ``depth`` transformer encoder blocks, optionally rematerialised and/or scanned.

  Unscanned, the blocks are ``block_0 .. block_{depth-1}``; scanned (``scan=True``) they are
  one ``layers`` subtree whose leaves have a leading ``depth`` axis (logical name ``layers``).
  ``stack_layers`` / ``unstack_layers`` in ``focusclip_jax.models.params_util`` convert.
  """

  pre_norm: bool = True

  @nn.compact
  def __call__(self, x, mask=None, deterministic: bool = True, rows=None):
    if self.remat_policy not in REMAT_POLICIES:
      raise ValueError(
          f"remat_policy {self.remat_policy!r} unknown; choose one of {sorted(REMAT_POLICIES)}")
    block_cls = EncoderBlock
    if self.remat_policy != "none":
      policy = REMAT_POLICIES[self.remat_policy]
      block_cls = nn.remat(
          EncoderBlock,
          policy=None if policy == "full" else policy,
          prevent_cse=not self.scan,
          static_argnums=(3,),  # (self, x, mask, deterministic, rows)
      )
    kwargs = dict(_fields_of(self, BlockFields), pre_norm=self.pre_norm)
    x = nn.with_logical_constraint(x, ACT_AXES)
    if self.scan:
      stack = nn.scan(
          block_cls,
          variable_axes={"params": 0, "intermediates": 0},
          split_rngs={"params": True, "dropout": True},
          in_axes=(nn.broadcast, nn.broadcast, nn.broadcast),
          length=self.depth,
          metadata_params={nn.PARTITION_NAME: "layers"},
      )
      x, _ = stack(name="layers", **kwargs)(x, mask, deterministic, rows)
    else:
      for i in range(self.depth):
        x, _ = block_cls(name=f"block_{i}", **kwargs)(x, mask, deterministic, rows)
    return x


def _fields_of(module: nn.Module, fields_cls: type) -> dict:
  """The values of ``module``'s fields declared by ``fields_cls`` (a *Fields base class)."""
  names = [f.name for f in dataclasses.fields(fields_cls) if f.name not in ("parent", "name")]
  return {n: getattr(module, n) for n in names}


def tower_encoder(tower: StackFields, *, pre_norm: bool) -> TransformerEncoder:
  """The ``encoder`` stack of a tower (called inside the tower's compact ``__call__``)."""
  return TransformerEncoder(pre_norm=pre_norm, name="encoder", **_fields_of(tower, StackFields))
