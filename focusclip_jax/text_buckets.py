"""Exact attention over the real tokens: the per-batch key length of the text tower.

The paper pads every description to ``max_length`` tokens and (with 'mean_all' pooling)
averages the text tower's output over all of them, so every position's output is needed. But
no position attends to a padded *key*: the mask gives it no weight. So attention needs the
keys and values of the first ``K`` positions only, for any ``K`` at least the longest real
text of the batch; every query (padded ones included) still gets its output, from the real
keys. The result equals full attention up to float summation order, for every pooling.

``config.model.text.attention_buckets`` (e.g. ``(128, 256, 384, 512)``; empty: all
positions, the reference) lists the allowed ``K``: a batch uses the smallest bucket at least
its longest real text, and each bucket is one compiled program, compiled when first needed
and reused. A batch whose longest text exceeds every bucket raises ``TextTooLongError``:
attention is never silently truncated. With several processes the longest text is agreed
over all of them (one small all-gather per batch), so every process runs the same program.
Attention dropout draws masks of shape [..., K]: with dropout the masks differ from full
attention's (equally random), without it the numbers agree.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils


class TextTooLongError(ValueError):
  """A batch holds a text longer than the largest attention bucket."""


def real_length(mask: np.ndarray) -> int:
  """The number of positions up to the last real token of the longest row of ``mask``."""
  mask = np.asarray(mask)
  if mask.size == 0:
    return 0
  nonzero = mask != 0
  last = mask.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return int(np.max(np.where(nonzero.any(axis=1), last, 0)))


def global_real_length(local_mask: np.ndarray) -> int:
  """``real_length`` over this process's rows, maximised over all processes."""
  n = real_length(local_mask)
  if jax.process_count() > 1:
    n = int(np.max(multihost_utils.process_allgather(np.asarray(n, np.int32))))
  return n


def choose(length: int, buckets: Sequence[int], max_length: int) -> int:
  """The key length for a batch whose longest text is ``length`` tokens: 0 (all positions)
  without buckets or when the bucket reaches ``max_length``, else the smallest bucket
  >= ``length``."""
  if not buckets:
    return 0
  for b in sorted(int(b) for b in buckets):
    if b >= length:
      return 0 if b >= max_length else b
  raise TextTooLongError(
      f"a batch holds a text of {length} tokens, longer than the largest of "
      f"config.model.text.attention_buckets = {tuple(buckets)}; attention is never truncated: "
      f"add a bucket >= {length} (or {max_length}, all positions), or leave the buckets empty")


def with_kv_length(model, kv_length: int):
  """``model`` (FocusCLIP) whose text tower attends over the first ``kv_length`` keys (0:
  all). The parameters are the same."""
  if not kv_length:  # models are built attending over all positions
    return model
  return model.clone(text_tower=model.text_tower.clone(kv_length=kv_length))


class PerBucket:
  """One compiled program per key length, built by ``build(model_for_that_length)`` when
  first needed; ``for_mask(mask)`` picks the one a batch needs."""

  def __init__(self, model, config, build: Callable):
    self.model, self.build = model, build
    self.buckets = tuple(config.model.text.attention_buckets)
    self.max_length = int(config.model.text.max_length)
    self.programs: dict[int, object] = {}

  def key_length(self, local_mask: np.ndarray) -> int:
    if not self.buckets:
      return 0
    return choose(global_real_length(local_mask), self.buckets, self.max_length)

  def __getitem__(self, kv_length: int):
    if kv_length not in self.programs:
      self.programs[kv_length] = self.build(with_kv_length(self.model, kv_length))
    return self.programs[kv_length]

  def for_mask(self, local_mask: np.ndarray):
    return self[self.key_length(local_mask)]
