"""The fused TPU attention kernel (config.model.text.attention_kernel='pallas_tpu'): the same
embeddings, loss and gradients as the 'xla' attention, unsharded and inside the sharded step;
config and platform checks that name the fix.

The kernel is Pallas's TPU flash attention; on CPU it runs in Pallas's TPU interpret mode (the
kernel's own code, block by block). tests/test_aot_tpu.py compiles it for a TPU topology.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.pallas import tpu as pltpu

from focusclip_jax import batch_spec
from focusclip_jax import config_lib
from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import sharding
from focusclip_jax import text_buckets
from focusclip_jax import train_step
from focusclip_jax.models import flash_attention
from focusclip_jax.models import layers
from input_pipeline import synthetic
from tests.helpers import tiny

# 256 tokens (two of the kernel's 128-token tiles), no attention dropout (the kernel has none).
FLASH = {"model.text.max_length": 256, "model.text.dropout": 0.0,
         "model.text.attention_dropout": 0.0}


def _batch(config, lengths, seed=0):
  n = config.model.text.max_length
  ex = batch_spec.from_uint8(synthetic.make_examples(len(lengths), 32, n, seed=seed))
  mask = (np.arange(n)[None] < np.asarray(lengths)[:, None]).astype(np.int32)
  ex["text_mask"], ex["text_ids"] = mask, (ex["text_ids"] * mask + mask).astype(np.int32)
  return {k: jnp.asarray(v) for k, v in batch_spec.model_inputs(ex, focus=True).items()}


def test_kernel_equals_reference_attention_with_padded_keys():
  """The module-level function against a hand-written masked softmax attention."""
  ks = jax.random.split(jax.random.key(1), 3)
  b, t, s, h, d = 2, 256, 128, 2, 16
  q = jax.random.normal(ks[0], (b, t, h, d))
  k = jax.random.normal(ks[1], (b, s, h, d))
  v = jax.random.normal(ks[2], (b, s, h, d))
  mask = (np.arange(s)[None] < np.array([[37], [128]])).astype(np.int32)

  def reference(q, k, v):
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * 0.25
    scores = jnp.where(mask[:, None, None, :] > 0, scores, -jnp.inf)
    return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)

  def sq(f):
    return lambda q, k, v: jnp.sum(jnp.sin(f(q, k, v)))

  with pltpu.force_tpu_interpret_mode():
    out = flash_attention.attend(q, k, v, mask, 0.25)
    grads = jax.grad(sq(lambda q, k, v: flash_attention.attend(q, k, v, mask, 0.25)),
                     argnums=(0, 1, 2))(q, k, v)
  np.testing.assert_allclose(out, reference(q, k, v), rtol=1e-5, atol=1e-6)
  for g, g_ref in zip(grads, jax.grad(sq(reference), argnums=(0, 1, 2))(q, k, v)):
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)
  # Keys beyond the mask get no weight: changing them changes nothing.
  with pltpu.force_tpu_interpret_mode():
    other = flash_attention.attend(q, k.at[0, 40:].set(9.0), v.at[0, 40:].set(-9.0), mask, 0.25)
  np.testing.assert_allclose(other[0], out[0], rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="not a multiple of 128"):
    flash_attention.attend(q[:, :100], k, v, mask, 0.25)


def _with_kernel(config, kernel="pallas_tpu"):
  c = config.copy_and_resolve_references()
  c.model.text.attention_kernel = kernel
  return c


@pytest.mark.parametrize("pooling", ["mean_all", "cls"])
def test_text_embeddings_equal_xla_attention(pooling):
  """No mesh (one device): the kernel is called directly; with and without a key bucket."""
  config = tiny(**FLASH, **{"model.text.pooling": pooling})
  model = models.build_model(config)
  fused = models.build_model(config_lib.validate(_with_kernel(config)))
  assert fused.text_tower.attention_kernel == "pallas_tpu"
  params = models.init_params(model, config, jax.random.key(0))
  batch = _batch(config, [5, 130, 17, 100])  # longest real text 130: two key tiles

  def encode(m):
    return m.apply({"params": params}, batch["text_ids"], batch["text_mask"],
                   method=m.encode_text)

  want = encode(model)
  with pltpu.force_tpu_interpret_mode():
    got = encode(fused)
    short = encode(text_buckets.with_kv_length(fused, 128) if pooling == "cls" else fused)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  if pooling == "cls":  # texts of <= 128 tokens would fit the 128-key bucket; 130 does not
    assert not np.allclose(short, want, rtol=1e-3)


def test_sharded_step_loss_and_gradients_equal_xla_attention():
  """Inside the jitted, sharded step on 8 devices: the kernel runs under shard_map over the
  batch axes; the paper's loss and every parameter's gradient equal the 'xla' step's."""
  config = tiny(**FLASH)
  fused_config = config_lib.validate(_with_kernel(config))
  model = models.build_model(config)
  fused = models.build_model(fused_config)
  params = losses.join_params(models.init_params(model, config, jax.random.key(0)),
                              losses.init_loss_params(config))
  batch = _batch(config, [3, 200, 5, 64, 129, 7, 90, 256])
  # Two devices: over all 8 fake devices Pallas's TPU interpreter stalled on this 2-core
  # machine (its per-device kernel instances waited on each other in its shared-memory
  # bookkeeping); over 2 it runs, and the shard_map path is the same.
  mesh = sharding.create_mesh(config, devices=jax.devices()[:2])  # the 'xla' config
  batch = jax.device_put(batch, sharding.batch_sharding(mesh, config))

  def loss_and_grads(m, c):
    return jax.value_and_grad(lambda p: train_step.loss_fn(
        m, c, p, batch, jax.random.key(0), train=True)[0])(params)

  with sharding.mesh_context(mesh, config):
    want_loss, want_grads = jax.jit(lambda: loss_and_grads(model, config))()
    with pltpu.force_tpu_interpret_mode():
      lowered = jax.jit(lambda: loss_and_grads(fused, fused_config)).lower()
      assert "shard_map" in lowered.as_text() or "sdy.manual_computation" in lowered.as_text()
      loss, grads = lowered.compile()()
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               grads, want_grads)


def test_config_and_platform_checks_name_the_fix():
  with pytest.raises(config_lib.ConfigError, match=r"attention_dropout = 0"):
    config_lib.validate(tiny(**{**FLASH, "model.text.attention_dropout": 0.1,
                                "model.text.attention_kernel": "pallas_tpu"}))
  with pytest.raises(config_lib.ConfigError, match=r"multiples of 128 \(not \[16\]\)"):
    config_lib.validate(tiny(**{"model.text.attention_dropout": 0.0,
                                "model.text.attention_kernel": "pallas_tpu"}))
  with pytest.raises(config_lib.ConfigError, match=r"not \[200\]"):
    config_lib.validate(tiny(**{**FLASH, "model.text.attention_buckets": (128, 200),
                                "model.text.attention_kernel": "pallas_tpu"}))
  with pytest.raises(config_lib.ConfigError, match="attention_kernel"):
    config_lib.validate(tiny(**{"model.text.attention_kernel": "flash"}))
  config = config_lib.validate(tiny(**{**FLASH, "model.text.attention_kernel": "pallas_tpu"}))
  with pytest.raises(ValueError, match=r"runs on TPU only.*\['cpu'\].*attention_kernel = 'xla'"):
    sharding.create_mesh(config)
  # A model built with the kernel refuses attention dropout in training (not in evaluation).
  layer = layers.Attention(num_heads=2, dropout=0.1, kernel="pallas_tpu")
  x = jnp.ones((1, 128, 32))
  with pltpu.force_tpu_interpret_mode():
    variables = layer.init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="no attention dropout"):
    layer.apply(variables, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
