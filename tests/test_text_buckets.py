"""Exact attention over the real tokens (config.model.text.attention_buckets): the same
embeddings, loss and gradients as attention over all positions, one program per bucket, and a
loud error instead of truncation."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax import batch_spec
from focusclip_jax import config_lib
from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import text_buckets
from focusclip_jax import train
from focusclip_jax import train_step
from focusclip_jax import zeroshot
from input_pipeline import pipeline
from input_pipeline import synthetic
from input_pipeline.tokenizer import get_tokenizer
from input_pipeline.tokenizer import length_summary
from tests.helpers import tiny

NO_DROPOUT = {"model.text.dropout": 0.0, "model.text.attention_dropout": 0.0}


def test_real_length_and_bucket_choice():
  mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]])
  assert text_buckets.real_length(mask) == 5
  assert text_buckets.real_length(np.array([[1, 0, 1, 0]])) == 3  # not only prefix masks
  assert text_buckets.choose(5, (), 512) == 0  # no buckets: all positions
  assert text_buckets.choose(5, (256, 128, 8), 512) == 8
  assert text_buckets.choose(8, (8, 128), 512) == 8
  assert text_buckets.choose(9, (8, 128), 512) == 128
  assert text_buckets.choose(200, (128, 512), 512) == 0  # the last bucket is all positions
  assert text_buckets.choose(9, (8, 600), 512) == 0
  with pytest.raises(text_buckets.TextTooLongError,
                     match=r"text of 130 tokens.*\(8, 128\).*add a bucket >= 130"):
    text_buckets.choose(130, (8, 128), 512)
  summary = length_summary([3, 10, 70, 130, 600])
  assert summary["num_texts"] == 5 and summary["max"] == 600 and summary["p50"] == 70
  assert summary["within"]["64"] == 0.4 and summary["within"]["128"] == 0.6
  with pytest.raises(config_lib.ConfigError, match="attention_buckets"):
    config_lib.validate(tiny(**{"model.text.attention_buckets": (128, 0)}))


def _batch(config, lengths, seed=0):
  ex = batch_spec.from_uint8(synthetic.make_examples(len(lengths), 32, 16, seed=seed))
  mask = (np.arange(16)[None] < np.asarray(lengths)[:, None]).astype(np.int32)
  ex["text_mask"], ex["text_ids"] = mask, (ex["text_ids"] * mask + mask).astype(np.int32)
  return {k: jnp.asarray(v) for k, v in batch_spec.model_inputs(ex, focus=True).items()}


def test_attention_over_the_real_keys_equals_attention_over_all():
  """Embeddings for every pooling; the loss and gradients for the paper's ('mean_all')."""
  batch = None
  for pooling in ("mean_all", "mean_masked", "cls"):
    config = tiny(**{**NO_DROPOUT, "model.text.pooling": pooling})
    model = models.build_model(config)
    params = losses.join_params(models.init_params(model, config, jax.random.key(0)),
                                losses.init_loss_params(config))
    if batch is None:
      batch = _batch(config, [3, 7, 5, 6, 2, 7, 4, 7])  # longest real text: 7 of 16 tokens

    def encode(m, params=params):
      return m.apply({"params": losses.split_params(params)[0]}, batch["text_ids"],
                     batch["text_mask"], method=m.encode_text)

    short = text_buckets.with_kv_length(model, 8)
    assert short.text_tower.kv_length == 8 and model.text_tower.kv_length == 0
    full_emb = jax.jit(lambda: encode(model))()
    np.testing.assert_allclose(jax.jit(lambda m=short: encode(m))(), full_emb, rtol=1e-5,
                               atol=1e-6)
    # Fewer keys than the longest text is another computation: the host-side guard is needed.
    assert not np.allclose(jax.jit(lambda: encode(text_buckets.with_kv_length(model, 4)))(),
                           full_emb, rtol=1e-3)
    if pooling == "mean_all":
      def loss_and_grads(m, params=params, config=config):
        return jax.value_and_grad(lambda p: train_step.loss_fn(
            m, config, p, batch, jax.random.key(0), train=True)[0])(params)

      full_loss, full_grads = jax.jit(lambda: loss_and_grads(model))()
      loss, grads = jax.jit(lambda m=short: loss_and_grads(m))()
      np.testing.assert_allclose(loss, full_loss, rtol=1e-5)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                   grads, full_grads)


def test_train_loop_compiles_one_step_per_bucket_and_refuses_longer_texts(tmp_path, caplog):
  config = tiny(**{**NO_DROPOUT, "model.text.attention_buckets": (4, 8), "train.num_steps": 4,
                   "train.checkpoint_every_steps": 4, "eval.evaluators": ()})
  b = config.train.batch_size
  lengths = ([4] * b, [2, 8] + [3] * (b - 2), [1] * b, [6] * b)  # buckets 4, 8, 4, 8
  batches = [_batch(config, n, seed=i) for i, n in enumerate(lengths)]
  caplog.set_level(logging.INFO)
  train.train_and_evaluate(config, str(tmp_path / "ok"), datasets=pipeline.create_datasets(config),
                           train_iter=iter(jax.device_get(batches)))
  compiled = [r.getMessage() for r in caplog.records if "Compiled the train step" in
              r.getMessage()]
  assert len(compiled) == 2, compiled
  assert "over 4 keys" in compiled[0] and "over 8 keys" in compiled[1]

  too_long = [_batch(config, [3] * (b - 1) + [9])]
  with pytest.raises(text_buckets.TextTooLongError, match="text of 9 tokens"):
    train.train_and_evaluate(config, str(tmp_path / "long"),
                             datasets=pipeline.create_datasets(config),
                             train_iter=iter(jax.device_get(too_long)))


def test_zero_shot_prompts_use_the_buckets(minilm_dir):
  config = tiny(**NO_DROPOUT)
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  tok = get_tokenizer(minilm_dir, config.model.text.max_length)
  texts = ["a photo of a person running", "a person", "someone cooking a meal"]
  full = zeroshot.Embedder(model, params, config, tokenizer=tok).encode_texts(texts, 8)
  config.model.text.attention_buckets = (8, 16)
  embedder = zeroshot.Embedder(model, params, config, tokenizer=tok)
  np.testing.assert_allclose(embedder.encode_texts(texts, 8), full, rtol=1e-5, atol=1e-6)
  assert set(embedder._text.programs) == {8}  # pylint: disable=protected-access
