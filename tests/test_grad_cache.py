"""Contrastive-correct gradient accumulation (focusclip_jax/grad_cache.py) and the
row-addressed dropout masks it relies on: the accumulated step equals the one-pass step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry2x32_p

from focusclip_jax import batch_spec
from focusclip_jax import config_lib
from focusclip_jax import grad_cache
from focusclip_jax import sharding
from focusclip_jax import train_step
from focusclip_jax.models import layers
from input_pipeline import synthetic
from tests.helpers import step_setup
from tests.helpers import tiny



@pytest.fixture(autouse=True, scope="module")
def _no_persistent_cache_writes():
  """XLA:CPU executables of these programs (e.g. the CLIP loss's gradient on 8 fake devices)
  deadlock in their collectives when loaded back from the persistent compilation cache
  (seen with jax 0.10.2: "Termination timeout for all gather"), so this module writes none:
  nothing of it is ever read back."""
  old = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1e9)
  yield
  jax.config.update("jax_persistent_cache_min_compile_time_secs", old)


# ---------------------------------------------------------------- masks at given rows


def test_bits_at_rows_are_those_rows_of_jax_random_bits():
  key = jax.random.fold_in(jax.random.key(3), 11)
  full = np.asarray(jax.random.bits(key, (7, 5, 6), jnp.uint32))
  rows = np.array([4, 0, 6, 4])
  got = np.asarray(layers.bits_at_rows(key, (4, 5, 6), jnp.asarray(rows)))
  np.testing.assert_array_equal(got, full[rows])


def test_bits_at_rows_builds_64_bit_counters():
  """Counters past 2**32 (row * row size overflows 32 bits), checked against the counters
  computed with Python integers."""
  key = jax.random.key(5)
  per_row = 70001
  rows = np.array([2**20 + 3, 65537, 0, 2**31 - 1])
  n = [int(r) * per_row + o for r in rows for o in range(per_row)]
  hi = np.array([c >> 32 for c in n], np.uint32).reshape(len(rows), per_row)
  lo = np.array([c & 0xFFFFFFFF for c in n], np.uint32).reshape(len(rows), per_row)
  data = jax.random.key_data(key)
  b1, b2 = threefry2x32_p.bind(data[0], data[1], jnp.asarray(hi), jnp.asarray(lo))
  got = layers.bits_at_rows(key, (len(rows), per_row), jnp.asarray(rows, jnp.int32))
  assert int(hi.max()) > 0
  np.testing.assert_array_equal(np.asarray(got), np.asarray(b1 ^ b2))


@pytest.mark.parametrize("bits", [16, 32])
def test_dropout_at_rows_draws_the_whole_batch_masks(bits):
  x = jax.random.normal(jax.random.key(0), (6, 4, 9)) + 3.0
  drop = layers.Dropout(rate=0.3, bits=bits)
  rngs = {"dropout": jax.random.key(7)}
  whole = np.asarray(drop.apply({}, x, False, rngs=rngs))
  rows = jnp.array([5, 1, 2])
  part = np.asarray(drop.apply({}, x[rows], False, rows, rngs=rngs))
  np.testing.assert_array_equal(part, whole[np.asarray(rows)])
  assert 0 < np.mean(whole == 0) < 0.6  # it does drop


def test_rows_need_a_threefry_key():
  drop = layers.Dropout(rate=0.3)
  with pytest.raises(ValueError, match="dropout_rng='threefry2x32'"):
    drop.apply({}, jnp.ones((2, 3)), False, jnp.arange(2),
               rngs={"dropout": jax.random.key(0, impl="rbg")})


def test_split_and_merge():
  x = jnp.arange(12).reshape(6, 2)
  parts = grad_cache.split(x, 3)
  np.testing.assert_array_equal(parts[1], [[2, 3], [8, 9]])  # rows 1 and 4
  np.testing.assert_array_equal(grad_cache.merge(parts), x)
  with pytest.raises(ValueError, match="does not split"):
    grad_cache.split(x, 4)


def test_generic_value_and_grad_on_a_coupled_loss():
  """A loss coupling all rows (softmax over the batch) and a parameter read by the loss only:
  the accumulated gradient is the gradient of the whole-batch loss (hand-written model)."""
  w = jax.random.normal(jax.random.key(1), (5, 3))
  params = {"w": w, "t": jnp.float32(0.7)}
  batch = {"x": jax.random.normal(jax.random.key(2), (8, 5))}

  def embed_fn(p, b, rows):
    del rows
    return {"e": jnp.tanh(b["x"] @ p["w"])}

  def loss_fn(p, emb):
    logits = emb["e"] @ emb["e"].T / p["t"]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits)), {}

  want_loss, want = jax.value_and_grad(
      lambda p: loss_fn(p, embed_fn(p, batch, None))[0])(params)
  (loss, _), got = jax.jit(lambda p: grad_cache.value_and_grad(embed_fn, loss_fn, p, batch, 4))(
      params)
  np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), got, want)


# ---------------------------------------------------------------- the train step

BATCH = 32  # 8 fake devices: micro-batches of 16 and 8 stay split over all of them


def _config(**overrides):
  return tiny(**{"train.batch_size": BATCH, "train.dropout_rng": "threefry2x32",
                 "model.image.dropout": 0.1, "model.image.attention_dropout": 0.1,
                 "model.text.dropout": 0.1, "model.text.attention_dropout": 0.1,
                 "sharding.mesh": (("data", 8), ("fsdp", 1)), **overrides})


def _batches(n=2):
  ex = batch_spec.from_uint8(synthetic.make_examples(n * BATCH, 32, 16, seed=0))
  return [{k: v[i * BATCH:(i + 1) * BATCH] for k, v in ex.items()} for i in range(n)]


def _grads(config, micro, batch):
  """(loss, metrics, grads) of the one-pass objective, of the accumulated one, and the one-pass
  loss at another dropout key."""
  mesh, model, state, _, bsh, _ = step_setup(config)
  cfg = config_lib.validate(config.copy_and_resolve_references())
  plain = jax.jit(jax.value_and_grad(
      lambda p, b, rng: train_step.loss_fn(model, cfg, p, b, rng), has_aux=True))
  with cfg.unlocked():
    cfg.train.microbatch_size = micro
  accumulated = jax.jit(
      lambda p, b, rng: train_step.accumulated_value_and_grad(model, cfg, p, b, rng))
  rng = jax.random.key(3, impl="threefry2x32")
  # One program at a time (device_get before the next call): XLA:CPU can deadlock when two
  # programs with collectives over the 8 fake devices run concurrently.
  with sharding.mesh_context(mesh, config):
    b = sharding.make_global_batch(batch, bsh)
    other = float(plain(state.params, b, jax.random.key(4, impl="threefry2x32"))[0][0])
    want = jax.device_get(plain(state.params, b, rng))
    return want, jax.device_get(accumulated(state.params, b, rng)), other


def _assert_close(got, want, rtol=1e-5, leaf_rtol=5e-5):
  """||got - want|| <= rtol ||want|| over all arrays together, and <= leaf_rtol per array (a
  scalar such as alpha's gradient sums ~10^5 terms with cancellation, so a different
  summation order moves it by more than 1e-5 of itself)."""
  pairs = []

  def check(path, a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    err, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    assert err <= leaf_rtol * ref + (1e-7 if leaf_rtol else 0), (
        jax.tree_util.keystr(path), err, ref)
    pairs.append((a, b))

  jax.tree_util.tree_map_with_path(check, got, want)
  a, b = (np.concatenate(x) for x in zip(*pairs))
  assert np.linalg.norm(a - b) <= rtol * np.linalg.norm(b), np.linalg.norm(a - b)


@pytest.mark.parametrize("overrides,micro", [
    ({}, 16),  # the paper recipe (NT-Xent, three terms, shared encoder in one fused pass)
    # A second tower, control heatmaps; layers under nn.scan (the micro-batch rows reach the
    # dropout inside the scanned blocks; and the compile is ~1/6 shorter).
    ({"loss.type": "clip", "model.focus.heatmap_source": "other_example",
      "model.focus.shared_encoder": False, "model.scan_layers": True}, 8),
])
def test_accumulated_gradients_equal_one_pass(overrides, micro):
  config = _config(**overrides)
  ((want_loss, want_metrics), want), ((loss, metrics), got), other_key_loss = _grads(
      config, micro, _batches(1)[0])
  assert float(want_metrics["loss"]) > 0
  # Dropout is on: another key gives another loss, so equal losses mean equal masks.
  assert abs(other_key_loss - float(want_loss)) > 1e-4
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
  _assert_close(metrics, want_metrics)
  _assert_close(got, want)


def test_accumulated_step_updates_like_the_one_pass_step():
  """Two steps of the jitted, sharded train step (SigLIP, dropout on, a frozen text tower,
  scanned layers): same losses and gradient norms, same parameters after the updates."""
  runs = []
  for micro in (0, 8):
    config = _config(**{"train.microbatch_size": micro, "loss.type": "siglip",
                        "optim.frozen": ("text_tower/.*",), "model.scan_layers": True})
    mesh, _, state, step, bsh, _ = step_setup(config)
    frozen_before = jax.device_get(state.params["text_tower"])
    metrics = []
    with sharding.mesh_context(mesh, config):
      for b in _batches(2):
        state, m = step(state, sharding.make_global_batch(b, bsh))
        metrics.append({k: float(m[k]) for k in ("loss", "grad_norm")})
    params = jax.device_get(state.params)
    _assert_close(params["text_tower"], frozen_before, rtol=0, leaf_rtol=0)
    runs.append((metrics, params))
  for got, want in zip(runs[1][0], runs[0][0]):
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    np.testing.assert_allclose(got["grad_norm"], want["grad_norm"], rtol=1e-5)
  _assert_close(runs[1][1], runs[0][1])


def test_config_checks():
  with pytest.raises(config_lib.ConfigError, match="does not divide"):
    config_lib.validate(_config(**{"train.microbatch_size": 12}))
  with pytest.raises(config_lib.ConfigError, match="threefry2x32"):
    config_lib.validate(_config(**{"train.microbatch_size": 8, "train.dropout_rng": "rbg"}))
  config_lib.validate(_config(**{"train.microbatch_size": 8}))


def test_logical_constraint_keeps_micro_batches_sharded():
  """Inside the mesh each micro-batch is split over all 8 devices."""
  config = _config()
  mesh = sharding.create_mesh(config)
  x = jax.device_put(jnp.arange(32.0)[:, None] * jnp.ones((1, 4)),
                     sharding.batch_sharding(mesh, config))
  with sharding.mesh_context(mesh, config):
    parts = jax.jit(lambda x: grad_cache.split(x, 2))(x)
  assert parts.sharding.spec[1] in (("data", "fsdp"), "data", ("data",))
