"""In-memory sources: ``from_arrays`` (any arrays with the example structure) and
``source(config)`` for ``config.data.dataset = 'synthetic'``, a deterministic random dataset
with the training batch structure, for tests, smoke runs and input-free benchmarks.

Synthetic examples: a random-colour image with a bright ellipse ("the subject"), the
ellipse's Gaussian heatmap, and random token ids of random length. Nothing here is meant to
be learnable beyond memorisation.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from input_pipeline import pipeline


def decode_uint8(record: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
  """Records with uint8 image/heatmap -> the float32 example structure."""
  return {
      "image": tf.cast(record["image"], tf.float32) / 255.0,
      "heatmap": tf.cast(record["heatmap"], tf.float32) / 255.0,
      "text_ids": tf.cast(record["text_ids"], tf.int32),
      "text_mask": tf.cast(record["text_mask"], tf.int32),
      "id": tf.cast(record["id"], tf.int64),
  }


def from_arrays(name: str, splits: Mapping[str, Mapping[str, np.ndarray]],
                decode=decode_uint8) -> pipeline.Source:
  """A Source over in-memory arrays: {split: {field: array with leading example axis}}.

  Each split needs an 'id' field (added as arange if absent). Records are read by index.
  """
  splits = {s: dict(f) for s, f in splits.items()}
  for fields in splits.values():
    n = len(next(iter(fields.values())))
    fields.setdefault("id", np.arange(n, dtype=np.int64))
  tensors = {}

  def num_examples(split):
    if split not in splits:
      raise ValueError(f"{name}: no split {split!r}; have {sorted(splits)}")
    return len(splits[split]["id"])

  def read(split, indices):
    num_examples(split)
    if split not in tensors:  # eager tensors, built once and captured by every pipeline
      with tf.init_scope():
        tensors[split] = {k: tf.constant(v) for k, v in splits[split].items()}
    return {k: tf.gather(v, indices) for k, v in tensors[split].items()}

  return pipeline.Source(name=name, num_examples=num_examples, read=read, decode=decode)


def make_examples(num: int, image_size: int, max_length: int, seed: int,
                  vocab_size: int = 30522) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  s = image_size
  yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
  cx, cy = rng.uniform(0.25 * s, 0.75 * s, size=(2, num, 1, 1))
  sx, sy = rng.uniform(0.08 * s, 0.25 * s, size=(2, num, 1, 1))
  heat = np.exp(-((xx - cx)**2 / (2 * sx**2) + (yy - cy)**2 / (2 * sy**2)))
  background = rng.integers(0, 256, size=(num, 1, 1, 3)).astype(np.float32)
  subject = rng.integers(0, 256, size=(num, 1, 1, 3)).astype(np.float32)
  noise = rng.normal(0, 12, size=(num, s, s, 3))
  image = background + (subject - background) * heat[..., None] + noise
  lengths = rng.integers(3, max_length + 1, size=num)
  mask = (np.arange(max_length)[None] < lengths[:, None]).astype(np.int32)
  ids = rng.integers(1000, vocab_size, size=(num, max_length)).astype(np.int32)
  ids[:, 0] = 101  # [CLS]
  ids[np.arange(num), lengths - 1] = 102  # [SEP]
  return {
      "image": np.clip(image, 0, 255).astype(np.uint8),
      "heatmap": np.round(heat[..., None] * 255).astype(np.uint8),
      "text_ids": ids * mask,
      "text_mask": mask,
  }


def source(config) -> pipeline.Source:
  s, L = config.model.image.image_size, config.model.text.max_length
  n = config.data.synthetic_examples
  return from_arrays("synthetic", {
      config.data.train_split: make_examples(n, s, L, config.seed, config.model.text.vocab_size),
      config.data.val_split: make_examples(max(n // 4, config.train.batch_size), s, L,
                                           config.seed + 1, config.model.text.vocab_size),
  })
