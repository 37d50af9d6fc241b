"""The interface between data sources and the train loop: ``create_datasets(config)``.

A *source* (``Source``) knows a dataset's splits: how many examples each has, how to read
records by their index in the split (random access, no decoding), and how to decode a record
into a model example (keys, shapes and dtypes: focusclip_jax/batch_spec.py, which the
pipeline checks the decoded examples against), plus 'id' (bookkeeping, host only); the
pipeline adds 'index', the record's index in its split (host only).

Training order (``train_iterator``): epoch e is the permutation ``epoch_permutation(seed, e,
n)`` of the split's n records; the *global* batch of step s is its slice
``[k * B, (k + 1) * B)`` with ``e, k = divmod(s, n // B)`` (the last ``n mod B`` records of
each permutation are left out of that epoch). Each process reads the rows of that batch
its devices hold (``process_rows`` of the batch sharding, in the train loop; rows
``[p * B / P, (p + 1) * B / P)`` for process p of P otherwise), so the global batch laid out
over the mesh -- and with it every loss and dropout mask -- is a function of (seed, step)
alone, whatever the number of processes and devices. Resuming at step s computes
that epoch's permutation and reads from there: no earlier records are read or skipped.

``eval_iterator`` yields every example of a split once, in index order: global batch b is
records ``[b * B, (b + 1) * B)``, split over processes the same way, the last one padded with
zeros and a ``_mask``, so that every process runs the same number of batches.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Iterator

import jax
import numpy as np
import tensorflow as tf

from focusclip_jax import batch_spec
from focusclip_jax import plugins
from focusclip_jax import sharding as sharding_lib


@dataclasses.dataclass(frozen=True)
class Source:
  """A dataset as seen by the pipeline.

  num_examples(split) -> global number of examples of ``split``.
  read(split, indices) -> the raw records at ``indices`` (int64 tensor [n], inside
      ``tf.data``): a dict of tensors with a leading axis n (e.g. serialized examples).
  decode(record) -> example dict of one record (tf ops; runs inside ``tf.data.Dataset.map``).
  decode_train(record) -> the same for training (augmentation); defaults to ``decode``.
      Records carry 'index' (the record's index in the split) and, for training, '_epoch',
      so that random choices can be a function of (seed, epoch, example) -- and hence be
      repeated exactly after a resume.
  """

  name: str
  num_examples: Callable[[str], int]
  read: Callable[[str, tf.Tensor], dict]
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
  seed: int
  prefetch: int = 2
  rows: tuple[int, ...] | None = None  # this process's rows of a global batch (None: a block)

  def train_iter(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """This process's batches from global step ``start_step`` on (infinite)."""
    return train_iterator(
        self.source, self.train_split, global_batch=self.global_batch_size, seed=self.seed,
        start_step=start_step, process_index=self.process_index,
        process_count=self.process_count, prefetch=self.prefetch, rows=self.rows)

  def eval_iter(self, split: str | None = None) -> Iterator[dict[str, np.ndarray]]:
    split = split or self.val_split
    if split is None:
      raise ValueError(f"dataset {self.source.name!r} has no validation split configured")
    return eval_iterator(self.source, split, global_batch=self.global_batch_size,
                         process_index=self.process_index, process_count=self.process_count,
                         rows=self.rows)


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  """Full global batches per epoch (the same for any number of processes)."""
  steps = num_examples // global_batch
  if steps < 1:
    raise ValueError(f"{num_examples} examples cannot fill one batch of {global_batch}; lower "
                     "config.train.batch_size")
  return steps


@functools.lru_cache(maxsize=2)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order of the records in epoch ``epoch``: a permutation of range(num_examples)."""
  rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed) % 2**63,
                                                                     int(epoch)])))
  perm = rng.permutation(num_examples).astype(np.int64)
  perm.flags.writeable = False
  return perm


def global_batch_indices(seed: int, step: int, num_examples: int, global_batch: int
                         ) -> np.ndarray:
  """Record indices of the global batch of ``step`` (all processes together)."""
  epoch, k = divmod(int(step), steps_per_epoch(num_examples, global_batch))
  return epoch_permutation(seed, epoch, num_examples)[k * global_batch:(k + 1) * global_batch]


def process_rows(global_batch: int, sharding) -> tuple[int, ...]:
  """The rows of a global batch that this process's devices hold under ``sharding``, in the
  order ``jax.make_array_from_process_local_data`` takes them from the local batch."""
  rows = set()
  for index in sharding.addressable_devices_indices_map((global_batch,)).values():
    rows.update(range(*index[0].indices(global_batch)))
  return tuple(sorted(rows))


def _local_rows(global_batch: int, process_index: int, process_count: int,
                rows=None) -> np.ndarray:
  if rows is not None:
    rows = np.asarray(rows, np.int64)
    if not (len(rows) and (np.diff(rows) > 0).all() and 0 <= rows[0] and
            rows[-1] < global_batch):
      raise ValueError(f"rows {rows} are not increasing rows of a batch of {global_batch}")
    return rows
  if global_batch % process_count:
    raise ValueError(f"global batch {global_batch} is not divisible by the {process_count} "
                     "processes")
  local = global_batch // process_count
  return np.arange(process_index * local, (process_index + 1) * local)


def _options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  options.experimental_optimization.map_parallelization = True
  return options


def _records(source: Source, split: str, index_batches: tf.data.Dataset) -> tf.data.Dataset:
  """Dataset of (indices [n], epoch) -> dataset of single raw records with 'index', '_epoch'."""
  def read(indices, epoch):
    records = dict(source.read(split, indices))
    records["index"] = indices
    records["_epoch"] = tf.fill(tf.shape(indices), epoch)
    return records
  ds = index_batches.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.unbatch()


def _decoded(source: Source, ds: tf.data.Dataset, decode) -> tf.data.Dataset:
  """Records -> examples (+ 'index'), checked against the batch spec when the pipeline is
  built (a source that decodes a wrong key, dtype or rank fails here, naming the source)."""
  ds = ds.map(lambda record: dict(decode(record), index=record["index"]),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  batch_spec.check_example(ds.element_spec, f"source {source.name!r}")
  return ds


def train_iterator(source: Source, split: str, *, global_batch: int, seed: int,
                   start_step: int, process_index: int, process_count: int, prefetch: int = 2,
                   as_numpy: bool = True, rows=None):
  """Infinite, deterministic stream of this process's rows of the global batches from
  ``start_step`` on (see the module docstring for the order)."""
  n = source.num_examples(split)
  spe = steps_per_epoch(n, global_batch)
  rows = _local_rows(global_batch, process_index, process_count, rows)
  local = len(rows)

  def step_rows(step):
    return global_batch_indices(seed, int(step), n, global_batch)[rows], step // spe

  def index_batch(step):
    indices, epoch = tf.numpy_function(step_rows, [step], [tf.int64, tf.int64], stateful=False)
    return tf.ensure_shape(indices, [local]), tf.ensure_shape(epoch, [])

  ds = tf.data.Dataset.range(int(start_step), np.iinfo(np.int64).max).map(index_batch)
  ds = _records(source, split, ds)
  ds = _decoded(source, ds, source.decode_train or source.decode)
  ds = ds.batch(local, drop_remainder=True).prefetch(prefetch).with_options(_options())
  return ds.as_numpy_iterator() if as_numpy else ds


def eval_iterator(source: Source, split: str, *, global_batch: int, process_index: int,
                  process_count: int, rows=None):
  """Every example of ``split`` once; the last batch zero-padded; '_mask' marks real examples.

  Global batch b holds records [b * B, (b + 1) * B); every process yields ceil(n / B) batches.
  """
  n = source.num_examples(split)
  rows = _local_rows(global_batch, process_index, process_count, rows)
  local = len(rows)
  num_batches = math.ceil(n / global_batch)
  positions = (np.arange(num_batches)[:, None] * global_batch +
               rows[None]).reshape(-1)
  real = positions < n
  positions = positions[real]  # padding rows are only at the end of this process's stream
  ds = tf.data.Dataset.from_tensor_slices(positions.astype(np.int64)).batch(local)
  ds = _records(source, split, ds.map(lambda i: (i, tf.constant(0, tf.int64))))
  ds = _decoded(source, ds, source.decode)
  ds = ds.map(lambda ex: dict(ex, _mask=tf.constant(True)))
  if not real.all():
    zeros = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), ds.element_spec)
    ds = ds.concatenate(tf.data.Dataset.from_tensors(zeros).repeat(int((~real).sum())))
  ds = ds.batch(local, drop_remainder=True).prefetch(2).with_options(_options())
  return ds.as_numpy_iterator()


def create_datasets(config, *, process_index: int | None = None,
                    process_count: int | None = None) -> Datasets:
  """The datasets for ``config.data`` (what ``train.train_and_evaluate`` calls).

  Without an explicit ``process_index``/``process_count`` (the train loop), a process reads
  the rows of each global batch that its devices hold on ``config.sharding.mesh``, so that
  the batch lands on the mesh in the same order whatever the order of the devices in it.
  """
  rows = None
  if process_index is None and process_count is None and jax.process_count() > 1:
    mesh = sharding_lib.create_mesh(config)
    if config.train.batch_size % sharding_lib.global_batch_size_divisor(mesh, config) == 0:
      rows = process_rows(config.train.batch_size,
                          sharding_lib.batch_sharding(mesh, config))
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
      local_batch_size=len(rows) if rows else config.train.batch_size // process_count,
      num_train_examples=n,
      steps_per_epoch=steps_per_epoch(n, config.train.batch_size),
      process_index=process_index,
      process_count=process_count,
      seed=config.seed,
      prefetch=config.data.prefetch,
      rows=rows,
  )


def get_source(config) -> Source:
  """The training source named by ``config.data.dataset`` (focusclip_jax/plugins.py)."""
  return plugins.load(plugins.SOURCES, config.data.dataset, "data.dataset")(config)
