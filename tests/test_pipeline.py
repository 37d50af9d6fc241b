"""The training/eval input pipeline: shapes, a global order independent of the process count,
exact O(1) resume on any process count, eval padding."""

import time

import jax
import numpy as np
import pytest
import tensorflow as tf

from focusclip_jax import batch_spec
from input_pipeline import pipeline
from input_pipeline import synthetic
from tests.helpers import tiny


def _source(n=20, s=8, L=6):
  return synthetic.from_arrays("t", {
      "train": synthetic.make_examples(n, s, L, seed=0),
      "validation": synthetic.make_examples(n // 2 + 1, s, L, seed=1)})


def _train(source, *, pc=1, pi=0, start=0, batch=4, seed=0):
  return pipeline.train_iterator(source, "train", global_batch=batch, seed=seed,
                                 start_step=start, process_index=pi, process_count=pc)


def _take(it, n):
  return [next(it) for _ in range(n)]


def _global(source, steps, *, pc, start=0, batch=4, seed=0):
  """The global batches as the processes see them: [process 0 rows; process 1 rows; ...]."""
  per = [_take(_train(source, pc=pc, pi=p, start=start, batch=batch, seed=seed), steps)
         for p in range(pc)]
  return [{k: np.concatenate([per[p][s][k] for p in range(pc)]) for k in per[0][s]}
          for s in range(steps)]


def test_batch_structure():
  config = tiny(**{"data.dataset": "synthetic"})
  ds = pipeline.create_datasets(config)
  b = next(ds.train_iter(0))
  assert b["image"].shape == (8, 32, 32, 3) and b["image"].dtype == np.float32
  assert b["heatmap"].shape == (8, 32, 32, 1) and b["heatmap"].dtype == np.float32
  assert b["text_ids"].shape == (8, 16) and b["text_ids"].dtype == np.int32
  assert b["text_mask"].shape == (8, 16) and b["text_mask"].dtype == np.int32
  assert b["index"].shape == (8,) and b["index"].dtype == np.int64
  np.testing.assert_array_equal(b["index"], b["id"])  # synthetic ids are the record indices
  assert set(batch_spec.model_inputs(b, focus=True)) == {"image", "heatmap", "text_ids",
                                                         "text_mask"}
  assert set(batch_spec.model_inputs(b, focus=False)) == {"image", "text_ids", "text_mask"}
  spec = batch_spec.batch_shapes(config, 8)
  assert {k: (b[k].shape, b[k].dtype) for k in spec} == {
      k: (shape, np.dtype(dtype)) for k, (shape, dtype) in spec.items()}


def test_source_that_breaks_the_batch_spec_is_named():
  wrong = synthetic.from_arrays("wrong_dtype", {"train": synthetic.make_examples(8, 8, 6, 0)},
                                decode=lambda r: dict(synthetic.decode_uint8(r),
                                                      text_ids=tf.cast(r["text_ids"], tf.int64)))
  with pytest.raises(ValueError, match="source 'wrong_dtype'.*'text_ids'"):
    pipeline.eval_iterator(wrong, "train", global_batch=4, process_index=0, process_count=1)
  missing = synthetic.from_arrays("no_heatmap", {"train": synthetic.make_examples(8, 8, 6, 0)},
                                  decode=lambda r: {k: v for k, v in
                                                    synthetic.decode_uint8(r).items()
                                                    if k != "heatmap"})
  with pytest.raises(ValueError, match="source 'no_heatmap'.*no 'heatmap'"):
    _train(missing)


def test_records_match_their_index():
  src = _source(20)
  raw = synthetic.make_examples(20, 8, 6, seed=0)
  for b in _take(_train(src, batch=4), 6):
    np.testing.assert_array_equal(b["image"], raw["image"][b["index"]] / np.float32(255))
    np.testing.assert_array_equal(b["text_ids"], raw["text_ids"][b["index"]])


def test_epochs_cover_the_data_once_and_reshuffle():
  src = _source(22)  # 5 steps of 4 per epoch; 2 records left out of each epoch
  batches = _take(_train(src, batch=4), 10)
  e0 = np.concatenate([b["index"] for b in batches[:5]])
  e1 = np.concatenate([b["index"] for b in batches[5:]])
  assert len(set(e0)) == len(set(e1)) == 20 and set(e0) <= set(range(22))
  assert not np.array_equal(e0, e1)
  for e, order in ((0, e0), (1, e1)):
    perm = pipeline.epoch_permutation(0, e, 22)
    assert sorted(perm) == list(range(22))
    np.testing.assert_array_equal(order, perm[:20])


@pytest.mark.parametrize("pc", [2, 4])
def test_global_batch_is_independent_of_the_process_count(pc):
  src = _source(20)
  one = _global(src, 8, pc=1, batch=8)  # 2 steps per epoch: crosses 3 epoch boundaries
  many = _global(src, 8, pc=pc, batch=8)
  for s, (a, b) in enumerate(zip(one, many)):
    np.testing.assert_array_equal(a["index"], pipeline.global_batch_indices(0, s, 20, 8))
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  # Each process reads only its rows: disjoint slices of the global batch.
  rows = [next(_train(src, pc=pc, pi=p, batch=8))["index"] for p in range(pc)]
  assert all(len(r) == 8 // pc for r in rows) and len(set(np.concatenate(rows))) == 8


class _Sharding:
  """What process_rows asks of a sharding: the slices this process's devices hold."""

  def __init__(self, slices):
    self.slices = slices

  def addressable_devices_indices_map(self, shape):
    del shape
    return {d: (s,) for d, s in enumerate(self.slices)}


def test_rows_follow_the_devices_of_the_process():
  # A mesh whose batch axis alternates between two processes' devices (as a TPU torus ring
  # may): process 0 holds rows 0-1 and 4-5 of a batch of 8, process 1 rows 2-3 and 6-7.
  rows = [pipeline.process_rows(8, _Sharding([slice(4, 6), slice(0, 2)])),
          pipeline.process_rows(8, _Sharding([slice(2, 4), slice(6, 8)]))]
  assert rows == [(0, 1, 4, 5), (2, 3, 6, 7)]
  mesh = jax.make_mesh((8,), ("data",))  # one process: all rows
  assert pipeline.process_rows(16, jax.NamedSharding(mesh, jax.P("data"))) == tuple(range(16))
  src = _source(20)
  parts = [_take(pipeline.train_iterator(src, "train", global_batch=8, seed=0, start_step=0,
                                         process_index=p, process_count=2, rows=rows[p]), 4)
           for p in range(2)]
  for step in range(4):
    want = pipeline.global_batch_indices(0, step, 20, 8)
    for p in range(2):
      np.testing.assert_array_equal(parts[p][step]["index"], want[list(rows[p])])
  evals = [list(pipeline.eval_iterator(src, "validation", global_batch=8, process_index=p,
                                       process_count=2, rows=rows[p])) for p in range(2)]
  np.testing.assert_array_equal(evals[0][0]["index"], [0, 1, 4, 5])
  # Second global batch: positions 8-15 of 11 records; process 1 holds 10, 11, 14, 15.
  np.testing.assert_array_equal(evals[1][1]["_mask"], [True, False, False, False])
  assert evals[1][1]["index"][0] == 10 and len(evals[0]) == len(evals[1]) == 2
  with pytest.raises(ValueError, match="not increasing"):
    _take(pipeline.train_iterator(src, "train", global_batch=8, seed=0, start_step=0,
                                  process_index=0, process_count=2, rows=(4, 0)), 1)


@pytest.mark.parametrize("pc_before,pc_after", [(1, 1), (1, 2), (2, 1)])
def test_resume_at_step_k_on_any_process_count_gives_the_same_batches(pc_before, pc_after):
  src = _source(20)
  straight = _global(src, 15, pc=pc_before, seed=3)
  for k in (1, 5, 7, 12):  # 5 steps per epoch: mid-epoch, at, after epoch boundaries
    resumed = _global(src, 3, pc=pc_after, start=k, seed=3)
    for a, b in zip(straight[k:], resumed):
      for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_resume_far_ahead_reads_no_earlier_records():
  src = _source(20)
  step = 10**9
  t = time.perf_counter()
  b = next(_train(src, start=step, seed=5))
  assert time.perf_counter() - t < 5  # replaying 10^9 steps would take hours
  np.testing.assert_array_equal(b["index"], pipeline.global_batch_indices(5, step, 20, 4))
  epoch, k = divmod(step, 5)
  np.testing.assert_array_equal(b["index"],
                                pipeline.epoch_permutation(5, epoch, 20)[4 * k:4 * k + 4])


def test_seed_changes_the_order():
  src = _source(20)
  a = np.concatenate([b["index"] for b in _take(_train(src, seed=0), 5)])
  b = np.concatenate([b["index"] for b in _take(_train(src, seed=1), 5)])
  assert not np.array_equal(a, b)


def test_eval_padding_and_mask():
  src = _source(20)  # validation: 11 examples
  per_process = [list(pipeline.eval_iterator(src, "validation", global_batch=8, process_index=p,
                                             process_count=2)) for p in range(2)]
  # Global batches [0, 8) and [8, 16): process 0 holds rows 0-3 of each, process 1 rows 4-7.
  assert [len(b) for b in per_process] == [2, 2]
  np.testing.assert_array_equal(per_process[0][1]["_mask"], [True, True, True, False])
  assert not per_process[1][1]["_mask"].any()
  seen = []
  for batches in per_process:
    for b in batches:
      assert b["_mask"].dtype == bool and b["image"].shape == (4, 8, 8, 3)
      seen += list(b["id"][b["_mask"]])
      assert (b["image"][~b["_mask"]] == 0).all()
  assert sorted(seen) == list(range(11))
  np.testing.assert_array_equal(np.concatenate([per_process[0][0]["index"],
                                                per_process[1][0]["index"]]), range(8))
  # A process without a single real example still yields the same number of batches.
  small = synthetic.from_arrays("s", {"validation": synthetic.make_examples(3, 8, 6, seed=2)})
  last = list(pipeline.eval_iterator(small, "validation", global_batch=8, process_index=1,
                                     process_count=2))
  assert len(last) == 1 and not last[0]["_mask"].any() and last[0]["image"].shape == (4, 8, 8, 3)


def test_too_few_examples_for_a_batch():
  with pytest.raises(ValueError, match="cannot fill one batch"):
    pipeline.steps_per_epoch(5, 8)
