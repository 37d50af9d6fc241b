"""Image batches of an evaluation dataset, preprocessed as in training.

Every image is loaded by the dataset reader (crop rule applied), squash-resized to the model
resolution with PIL's bilinear filter -- the reference's ``Resize((224, 224))`` on a PIL image
-- and scaled to [0, 1]. Batches have a fixed global size; the last one is padded with zeros
and ``mask`` marks the real examples, so every process runs the same number of batches.
Process p of P loads rows [p * b, (p + 1) * b) of every global batch (b = global / P).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from typing import Iterator

import numpy as np
from PIL import Image

from input_pipeline.eval_datasets.base import EvalDataset


def preprocess(img: np.ndarray, image_size: int) -> np.ndarray:
  """uint8 [H, W, 3] -> uint8 [S, S, 3], PIL bilinear squash (as the reference)."""
  if img.shape[0] == image_size and img.shape[1] == image_size:
    return img
  return np.asarray(Image.fromarray(img).resize((image_size, image_size), Image.BILINEAR))


def num_batches(num_examples: int, global_batch: int) -> int:
  return max(1, math.ceil(num_examples / global_batch))


def image_batches(dataset: EvalDataset, image_size: int, global_batch: int, *,
                  process_index: int = 0, process_count: int = 1, limit: int | None = None,
                  num_workers: int | None = None) -> Iterator[dict[str, np.ndarray]]:
  """Yields {'image' float32 [b,S,S,3], 'index' int64 [b], 'mask' bool [b]} (b = local batch)."""
  if global_batch % process_count:
    raise ValueError(f"eval batch {global_batch} not divisible by {process_count} processes")
  n = len(dataset.examples) if limit is None else min(limit, len(dataset.examples))
  local = global_batch // process_count
  workers = num_workers or min(8, (os.cpu_count() or 2) * 2)

  def load(i):
    if i >= n:
      return np.zeros((image_size, image_size, 3), np.uint8)
    return preprocess(dataset.load_image(dataset.examples[i]), image_size)

  def rows(g):
    start = g * global_batch + process_index * local
    return np.arange(start, start + local)

  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    total = num_batches(n, global_batch)
    pending = [pool.map(load, rows(g)) for g in range(min(2, total))]
    for g in range(total):
      images = np.stack(list(pending.pop(0)))
      if g + 2 < total:
        pending.append(pool.map(load, rows(g + 2)))
      idx = rows(g)
      yield {"image": images.astype(np.float32) / 255.0, "index": idx, "mask": idx < n}
