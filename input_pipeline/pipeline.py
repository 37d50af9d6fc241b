"""The interface between data sources and the train loop: ``create_datasets(config)``.

A *source* (``Source``) knows a dataset's splits: how many examples each has, how to read a
process's slice of a split as raw records in a fixed order (cheap to skip: no decoding), and
how to decode a record into a model example:

  image      float32 [S, S, 3] in [0, 1]
  heatmap    float32 [S, S, 1] in [0, 1]
  text_ids   int32   [L]
  text_mask  int32   [L]
  id         int64   example index (bookkeeping; not sent to the device)

``train_iterator`` turns a source into this process's infinite stream of batches of
``global_batch / process_count`` examples, in an order that is a pure function of
(config.seed, step): epoch e is the process's slice shuffled with seed (seed, e); a run
resumed at step k skips exactly the k * local_batch records it would have consumed, before
decoding. ``eval_iterator`` yields every example of a split once, padding the last batch with
zeros and a ``_mask`` so that every process runs the same number of batches.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

MODEL_KEYS = ("image", "heatmap", "text_ids", "text_mask")


@dataclasses.dataclass(frozen=True)
class Source:
  """A dataset as seen by the pipeline.

  num_examples(split) -> global number of examples of ``split``.
  records(split, process_index, process_count) -> tf.data.Dataset of raw records of this
      process's slice (disjoint across processes), always in the same order.
  decode(record) -> example dict (tf ops; runs inside ``tf.data.Dataset.map``).
  decode_train(record) -> the same for training (augmentation); defaults to ``decode``.
      Training records carry '_epoch' so that random choices can be a function of
      (seed, epoch, example) -- and hence be repeated exactly after a resume.
  """

  name: str
  num_examples: Callable[[str], int]
  records: Callable[[str, int, int], tf.data.Dataset]
  decode: Callable[[dict], dict]
  decode_train: Callable[[dict], dict] | None = None


@dataclasses.dataclass
class Datasets:
  """What the train loop gets from ``create_datasets``."""

  source: Source
  train_split: str
  val_split: str | None
  global_batch_size: int
  local_batch_size: int
  num_train_examples: int
  steps_per_epoch: int
  process_index: int
  process_count: int
  shuffle_buffer_size: int
  seed: int
  prefetch: int = 2

  def train_iter(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """This process's batches from global step ``start_step`` on (infinite)."""
    return train_iterator(
        self.source, self.train_split, local_batch=self.local_batch_size, seed=self.seed,
        start_step=start_step, process_index=self.process_index,
        process_count=self.process_count, shuffle_buffer_size=self.shuffle_buffer_size,
        prefetch=self.prefetch)

  def eval_iter(self, split: str | None = None) -> Iterator[dict[str, np.ndarray]]:
    split = split or self.val_split
    if split is None:
      raise ValueError(f"dataset {self.source.name!r} has no validation split configured")
    return eval_iterator(self.source, split, local_batch=self.local_batch_size,
                         process_index=self.process_index, process_count=self.process_count)


def steps_per_epoch(num_examples: int, global_batch: int, process_count: int) -> int:
  local_batch = global_batch // process_count
  steps = (num_examples // process_count) // local_batch
  if steps < 1:
    raise ValueError(
        f"{num_examples} examples over {process_count} processes cannot fill one batch of "
        f"{global_batch}; lower config.train.batch_size")
  return steps


def _epoch_seed(seed: int, epoch):
  return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def train_iterator(source: Source, split: str, *, local_batch: int, seed: int, start_step: int,
                   process_index: int, process_count: int, shuffle_buffer_size: int,
                   prefetch: int = 2, as_numpy: bool = True):
  """Infinite, deterministic stream of this process's training batches from ``start_step``."""
  n = source.num_examples(split)
  spe = steps_per_epoch(n, local_batch * process_count, process_count)
  per_epoch = spe * local_batch
  start_epoch, skip_steps = divmod(int(start_step), spe)
  records = source.records(split, process_index, process_count)
  buffer = max(1, min(shuffle_buffer_size, n))

  def epoch(e):
    # '_epoch' lets a decoder vary per epoch deterministically (e.g. which description).
    return records.map(lambda r: dict(r, _epoch=e)).shuffle(
        buffer, seed=_epoch_seed(seed, e), reshuffle_each_iteration=False).take(per_epoch)

  ds = tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(epoch)
  ds = ds.skip(skip_steps * local_batch)  # before decoding: resuming costs record reads only
  ds = ds.map(source.decode_train or source.decode, num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  ds = ds.batch(local_batch, drop_remainder=True)
  ds = ds.prefetch(prefetch)
  options = tf.data.Options()
  options.deterministic = True
  options.experimental_optimization.map_parallelization = True
  ds = ds.with_options(options)
  return ds.as_numpy_iterator() if as_numpy else ds


def eval_iterator(source: Source, split: str, *, local_batch: int, process_index: int,
                  process_count: int):
  """Every example of ``split`` once; last batch zero-padded; '_mask' marks real examples.

  All processes yield the same number of batches (ceil of the largest slice / local_batch).
  """
  n = source.num_examples(split)
  num_batches = math.ceil(math.ceil(n / process_count) / local_batch)
  ds = source.records(split, process_index, process_count)
  ds = ds.map(source.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.map(lambda ex: dict(ex, _mask=tf.constant(True)))
  pad = ds.take(1).map(lambda ex: tf.nest.map_structure(tf.zeros_like, ex)).repeat()
  ds = ds.concatenate(pad).take(num_batches * local_batch)
  ds = ds.batch(local_batch, drop_remainder=True).prefetch(2)
  return ds.as_numpy_iterator()


def model_inputs(batch: dict[str, np.ndarray], with_heatmap: bool = True
                 ) -> dict[str, np.ndarray]:
  """The arrays the train step needs (bookkeeping fields such as 'id' stay on the host)."""
  keys = MODEL_KEYS if with_heatmap else tuple(k for k in MODEL_KEYS if k != "heatmap")
  return {k: batch[k] for k in keys}


def create_datasets(config, *, process_index: int | None = None,
                    process_count: int | None = None) -> Datasets:
  """The datasets for ``config.data`` (what ``train.train_and_evaluate`` calls)."""
  import jax  # pylint: disable=g-import-not-at-top
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if config.train.batch_size % process_count:
    raise ValueError(f"config.train.batch_size {config.train.batch_size} is not divisible by "
                     f"the {process_count} processes")
  source = get_source(config)
  train_split = config.data.train_split
  n = source.num_examples(train_split)
  return Datasets(
      source=source,
      train_split=train_split,
      val_split=config.data.val_split or None,
      global_batch_size=config.train.batch_size,
      local_batch_size=config.train.batch_size // process_count,
      num_train_examples=n,
      steps_per_epoch=steps_per_epoch(n, config.train.batch_size, process_count),
      process_index=process_index,
      process_count=process_count,
      shuffle_buffer_size=config.data.shuffle_buffer_size,
      seed=config.seed,
      prefetch=config.data.prefetch,
  )


def get_source(config) -> Source:
  name = config.data.dataset
  if name == "synthetic":
    from input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
    return synthetic.source(config)
  if name == "mpii_pose_descriptions":
    from input_pipeline import mpii  # pylint: disable=g-import-not-at-top
    return mpii.source(config)
  if name == "cub":
    from input_pipeline import cub_source  # pylint: disable=g-import-not-at-top
    return cub_source.source(config)
  raise ValueError(f"config.data.dataset {name!r} unknown; use 'mpii_pose_descriptions', "
                   "'synthetic' or 'cub'")
