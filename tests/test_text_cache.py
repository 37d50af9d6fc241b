"""A locked text tower's cached outputs (config.train.cache_text_features): the step that reads
them computes the loss, gradients and updates of the step that runs the tower."""

import logging

import jax
import numpy as np
import pytest

from focusclip_jax import batch_spec
from focusclip_jax import checkpointing
from focusclip_jax import config_lib
from focusclip_jax import losses as losses_lib
from focusclip_jax import models
from focusclip_jax import sharding
from focusclip_jax import text_cache
from focusclip_jax import train
from input_pipeline import pipeline
from input_pipeline import synthetic
from tests.helpers import read_scalars
from tests.helpers import step_setup
from tests.helpers import tiny

LOCKED = {"optim.frozen": ("text_tower/.*",), "model.text.dropout": 0.0,
          "model.text.attention_dropout": 0.0, "optim.name": "adamw"}


def _batches(config, n=3):
  ex = batch_spec.from_uint8(synthetic.make_examples(n * config.train.batch_size, 32, 16, seed=1))
  b = config.train.batch_size
  batches = [{k: v[i * b:(i + 1) * b] for k, v in ex.items()} for i in range(n)]
  # A last batch of texts seen before (in another order, with other images): no new forward.
  perm = np.random.default_rng(0).permutation(b)
  batches.append({k: (v[::-1] if k in ("image", "heatmap") else v[perm])
                  for k, v in batches[0].items()})
  return batches


def _reference_run(config, batches):
  """The uncached step over ``batches``; also the gradients at the first batch with and
  without the cache. Returns (losses, grads, cached grads, initial params, final params)."""
  mesh, model, state, step, bsh, grad_fn = step_setup(config, seed=config.seed)
  init = jax.device_get(state.params)
  losses = []
  with sharding.mesh_context(mesh, config):
    first = batch_spec.model_inputs(batches[0], focus=True)
    cached = text_cache.TextFeatureCache(model, config, mesh)(state.params, first)
    assert set(cached) == {"image", "heatmap", "text_features"}
    grads = jax.device_get(grad_fn(state.params, sharding.make_global_batch(first, bsh)))
    c_grads = jax.device_get(grad_fn(state.params, sharding.make_global_batch(cached, bsh)))
    for b in batches:
      inputs = sharding.make_global_batch(batch_spec.model_inputs(b, focus=True), bsh)
      state, m = step(state, inputs)
      losses.append(float(m["loss"]))
  return losses, grads, c_grads, init, jax.device_get(state.params)


def test_cached_step_equals_the_step_that_runs_the_tower(tmp_path, caplog):
  config = tiny(**LOCKED)
  batches = _batches(config)
  losses, grads, c_grads, init, params = _reference_run(config, batches)
  assert len(set(losses)) == len(losses)  # the model trains
  # Gradients of everything but the tower (the cached step does not see the tower at all).
  assert set(c_grads) == set(grads)
  for name in grads:
    if name != "text_tower":
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
                   c_grads[name], grads[name])

  # The train loop with the cache, on the same batches.
  config = tiny(**{**LOCKED, "train.cache_text_features": True, "train.num_steps": len(batches),
                   "train.checkpoint_every_steps": len(batches)})
  caplog.set_level(logging.INFO)
  train.train_and_evaluate(config, str(tmp_path), datasets=pipeline.create_datasets(config),
                           train_iter=iter(batches))
  logged = read_scalars(tmp_path, "train/loss")
  np.testing.assert_allclose([logged[s] for s in range(1, len(batches) + 1)], losses,
                             rtol=1e-5)
  _, c_params, _ = checkpointing.load_for_inference(str(tmp_path))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               c_params, losses_lib.split_params(params)[0])
  # The locked tower is unchanged; the projection after it trains.
  jax.tree.map(np.testing.assert_array_equal, c_params["text_tower"], init["text_tower"])
  assert not np.allclose(c_params["text_proj"]["kernel"], init["text_proj"]["kernel"])
  # One entry per distinct text; the last batch (texts seen before) ran no forward.
  texts = {(b["text_ids"][i].tobytes(), b["text_mask"][i].tobytes())
           for b in batches for i in range(len(b["text_ids"]))}
  assert len(texts) == 3 * config.train.batch_size
  assert (f"Text feature cache: {len(texts)} distinct texts, computed in 3 batches"
          in caplog.text)


def test_a_texts_features_do_not_depend_on_its_batch():
  """What makes a resumed run read the features an uninterrupted one read: a text gets the
  same bits whatever batch (position, other rows) it is first computed in. At the demo's
  text tower size (MiniLM-L6, 24 tokens), random weights."""
  variant, length = "minilm-l6", 24
  config = tiny(**{**LOCKED, "train.cache_text_features": True, "model.text.variant": variant,
                   "model.text.max_length": length, "sharding.mesh": (("data", 1), ("fsdp", 1))})
  mesh = sharding.create_mesh(config, jax.devices()[:1])
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  ex = synthetic.make_examples(24, 32, length, seed=2)
  ids, mask = ex["text_ids"].astype(np.int32), ex["text_mask"].astype(np.int32)
  first = text_cache.TextFeatureCache(model, config, mesh)
  second = text_cache.TextFeatureCache(model, config, mesh)
  first(params, {"text_ids": ids[:8], "text_mask": mask[:8]})
  order = np.r_[16:23, 7]  # text 7 last, among seven others
  second(params, {"text_ids": ids[order], "text_mask": mask[order]})
  key = text_cache.TextFeatureCache.key(ids[7], mask[7])
  np.testing.assert_array_equal(first.features[key], second.features[key])


def test_a_trainable_or_stochastic_text_tower_is_refused():
  config = tiny(**{**LOCKED, "train.cache_text_features": True, "optim.frozen": ()})
  model = models.build_model(config)
  with pytest.raises(config_lib.ConfigError, match=r"text_tower/\.\*.*optim.frozen"):
    text_cache.check_locked(model, config)
  config = tiny(**{**LOCKED, "train.cache_text_features": True, "model.text.dropout": 0.1})
  with pytest.raises(config_lib.ConfigError, match="model.text.dropout"):
    config_lib.validate(config)
