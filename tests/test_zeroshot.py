"""The zero-shot evaluator with a toy model whose embeddings make the right answer obvious."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax import zeroshot
from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.tokenizer import get_tokenizer
from tests.helpers import tiny


class ColorCLIP(nn.Module):
  """Image embedding = mean RGB; text embedding = counts of the words red / green / blue."""

  color_ids: tuple[int, int, int]

  @nn.compact
  def __call__(self, x):
    return x

  def encode_image(self, images):
    return images.mean(axis=(1, 2))

  def encode_text(self, ids, mask):
    del mask
    return jnp.stack([(ids == i).sum(1) for i in self.color_ids], axis=1).astype(jnp.float32)


@pytest.fixture()
def setup(minilm_dir):
  config = tiny(**{"model.image.image_size": 8, "eval.batch_size": 8})
  tok = get_tokenizer(minilm_dir, config.model.text.max_length)
  ids = tuple(tok.token_ids(["red", "green", "blue"]))
  model = ColorCLIP(ids)
  embedder = zeroshot.Embedder(model, {}, config, tokenizer=tok)
  return config, embedder


def _dataset(n=11, permute=False):
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, size=n)
  arrays = np.zeros((n, 16, 16, 3), np.uint8)
  arrays[np.arange(n), :, :, labels] = 200
  names = ["red", "green", "blue"]
  prompts = [[f"a photo of a {c} thing", f"something {c}"] for c in names]
  if permute:
    prompts = prompts[1:] + prompts[:1]
  return EvalDataset(name="colors", task="species", classnames=names, prompts=prompts, k=1,
                     examples=[Example(int(i), int(l)) for i, l in enumerate(labels)],
                     arrays=arrays)


def test_obvious_answers_are_found(setup):
  _, embedder = setup
  res = zeroshot.evaluate_dataset(embedder, _dataset(11), batch_size=8)  # 2 batches, padded
  assert res.scores.shape == (11, 3)
  assert res.metrics["acc1"] == 100.0 and res.metrics["score"] == 100.0
  assert res.metrics["mean_per_class_recall"] == 100.0
  assert res.metrics["chance"] == pytest.approx(100 / 3)
  # Misaligned prompts (the reference's Stanford40 bug in miniature) destroy accuracy.
  bad = zeroshot.evaluate_dataset(embedder, _dataset(11, permute=True), batch_size=8)
  assert bad.metrics["acc1"] == 0.0


def test_limit_and_order(setup):
  _, embedder = setup
  ds = _dataset(11)
  res = zeroshot.evaluate_dataset(embedder, ds, batch_size=8, limit=5)
  assert len(res.labels) == 5
  np.testing.assert_array_equal(res.labels, ds.labels()[:5])


def test_class_embeddings_average_normalised_prompts(setup):
  _, embedder = setup
  emb = embedder.class_embeddings([["red", "red green"], ["blue"]])
  a = np.array([1.0, 0, 0]) + np.array([1.0, 1, 0]) / np.sqrt(2)
  np.testing.assert_allclose(emb[0], a / np.linalg.norm(a), atol=1e-6)
  np.testing.assert_allclose(emb[1], [0, 0, 1], atol=1e-6)


def test_batches_are_rounded_to_the_devices(setup):
  _, embedder = setup
  assert jax.device_count() == 8
  assert embedder.round_batch(5) == 8 and embedder.round_batch(9) == 16
