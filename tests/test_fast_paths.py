"""The fast paths agree with the plain path; the step neither recompiles nor touches the host."""

import jax
import numpy as np
import pytest

from focusclip_jax import batch_spec
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding
from focusclip_jax import train_state
from focusclip_jax import train_step
from input_pipeline import synthetic
from tests.helpers import tiny
from tests.helpers import tiny2


def _batch(config, b=8, seed=0):
  return batch_spec.from_uint8(synthetic.make_examples(
      b, config.model.image.image_size, config.model.text.max_length, seed))


def _forward(config, params, batch):
  model = models.build_model(config)
  return models.apply_batch(model, {"params": params}, batch)


def test_fused_2b_pass_equals_two_passes():
  config = tiny()
  params = models.init_params(models.build_model(config), config, jax.random.key(0))
  b = _batch(config)
  fused = _forward(config, params, b)
  split = _forward(tiny(**{"model.focus.fused_pass": False}), params, b)
  for k in fused:
    np.testing.assert_allclose(fused[k], split[k], rtol=0, atol=2e-6)


# bf16 compute vs fp32 on the two-block tiny model (tiny2, params key 0, batch seed 0),
# measured: per-example relative embedding error <= 1.0e-2 and a loss 1.5e-4 (relative) away. A path that pairs an
# example with another one's text (rolled texts, fp32) is >= 0.16 away per example and moves
# the loss by >= 8.3e-4, so the bounds below tell the two apart.
BF16_EMBEDDING_RTOL = 2e-2
BF16_LOSS_RTOL = 5e-4


def test_bf16_matches_fp32_and_the_bound_catches_a_broken_path():
  """bf16 compute (fp32 params and loss) vs fp32: per-example embeddings and the loss."""
  config = tiny2()
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  b = _batch(config)
  c16 = tiny2(**{"model.dtype": "bfloat16"})
  m16 = models.build_model(c16)
  e32 = _forward(config, params, b)
  e16 = _forward(c16, params, b)

  def rel_err(x, ref):  # per example
    x, ref = np.asarray(x, np.float32), np.asarray(ref, np.float32)
    return np.linalg.norm(x - ref, axis=-1) / np.linalg.norm(ref, axis=-1)

  for k in e32:
    assert rel_err(e16[k], e32[k]).max() < BF16_EMBEDDING_RTOL, k
    assert rel_err(np.roll(e32[k], 1, 0), e32[k]).min() > 4 * BF16_EMBEDDING_RTOL, k

  loss32 = jax.jit(lambda p, b: train_step.loss_fn(model, config, p, b, None, train=False)[0])
  loss16 = train_step.loss_fn(m16, c16, params, b, None, train=False)[0]
  f32 = float(loss32(params, b))
  assert abs(float(loss16) - f32) / f32 < BF16_LOSS_RTOL
  for shift in range(1, len(b["text_ids"])):
    rolled = dict(b, text_ids=np.roll(b["text_ids"], shift, 0),
                  text_mask=np.roll(b["text_mask"], shift, 0))
    assert abs(float(loss32(params, rolled)) - f32) / f32 > BF16_LOSS_RTOL, shift


def test_short_text_with_masked_mean_equals_long_text():
  """masked-mean pooling makes the padding length irrelevant (the fast text mode)."""
  long_cfg = tiny(**{"model.text.pooling": "mean_masked", "model.text.max_length": 64})
  short_cfg = tiny(**{"model.text.pooling": "mean_masked", "model.text.max_length": 16})
  model = models.build_model(long_cfg)
  params = models.init_params(model, long_cfg, jax.random.key(0))
  ex = synthetic.make_examples(4, 32, 16, seed=1)  # texts of <= 16 tokens
  pad = np.zeros((4, 48), np.int32)
  long_ids = np.concatenate([ex["text_ids"], pad], 1)
  long_mask = np.concatenate([ex["text_mask"], pad], 1)
  a = model.apply({"params": params}, long_ids, long_mask, method=model.encode_text)
  short = models.build_model(short_cfg)
  b = short.apply({"params": params}, ex["text_ids"], ex["text_mask"], method=short.encode_text)
  np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.fixture(scope="module")
def compiled_step():
  config = tiny(**{"sharding.mesh": (("data", 8), ("fsdp", 1))})
  mesh = sharding.create_mesh(config)
  model = models.build_model(config)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 100)
  step = train_step.build_step(model, config, tx, lr, mesh)
  new_state = lambda: train_state.create_state(model, config, tx, mesh, jax.random.key(0))
  return config, mesh, new_state, step  # a fresh state per test: steps donate it


def test_no_recompilation_after_the_first_step(compiled_step):
  config, mesh, new_state, step = compiled_step
  state = new_state()
  compiles = []

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if event == "/jax/core/compile/backend_compile_duration":
      compiles.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    bsh = sharding.batch_sharding(mesh, config)
    with sharding.mesh_context(mesh, config):
      state, _ = step(state, sharding.make_global_batch(_batch(config, seed=0), bsh))
      first = len(compiles)
      for seed in range(1, 4):
        state, m = step(state, sharding.make_global_batch(_batch(config, seed=seed), bsh))
      jax.block_until_ready(m["loss"])
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert step._cache_size() == 1  # pylint: disable=protected-access
  assert len(compiles) == first  # steps 2..4 compiled nothing


def test_no_host_transfer_inside_the_step(compiled_step):
  config, mesh, new_state, step = compiled_step
  state = new_state()
  batch = sharding.make_global_batch(_batch(config), sharding.batch_sharding(mesh, config))
  with sharding.mesh_context(mesh, config):
    state, _ = step(state, batch)  # compile outside the guard
    with jax.transfer_guard("disallow"):
      state, m = step(state, batch)
      state, m = step(state, batch)
  assert np.isfinite(float(m["loss"]))
