"""The training/eval input pipeline: shapes, per-process slices, exact resume, eval padding."""

import numpy as np
import pytest

from input_pipeline import pipeline
from input_pipeline import synthetic
from tests.helpers import tiny


def _source(n=20, s=8, L=6):
  return synthetic.from_arrays("t", {
      "train": synthetic.make_examples(n, s, L, seed=0),
      "validation": synthetic.make_examples(n // 2 + 1, s, L, seed=1)})


def _train(source, *, pc=1, pi=0, start=0, batch=4, seed=0, buffer=100):
  return pipeline.train_iterator(source, "train", local_batch=batch // pc, seed=seed,
                                 start_step=start, process_index=pi, process_count=pc,
                                 shuffle_buffer_size=buffer)


def _take(it, n):
  return [next(it) for _ in range(n)]


def test_batch_structure():
  config = tiny(**{"data.dataset": "synthetic"})
  ds = pipeline.create_datasets(config)
  b = next(ds.train_iter(0))
  assert b["image"].shape == (8, 32, 32, 3) and b["image"].dtype == np.float32
  assert b["heatmap"].shape == (8, 32, 32, 1) and b["heatmap"].dtype == np.float32
  assert b["text_ids"].shape == (8, 16) and b["text_ids"].dtype == np.int32
  assert b["text_mask"].shape == (8, 16) and b["text_mask"].dtype == np.int32
  assert set(pipeline.model_inputs(b)) == {"image", "heatmap", "text_ids", "text_mask"}
  assert set(pipeline.model_inputs(b, with_heatmap=False)) == {"image", "text_ids", "text_mask"}


def test_epochs_cover_the_data_once_and_reshuffle():
  src = _source(20)
  batches = _take(_train(src, batch=4), 10)  # 5 steps per epoch
  e0 = np.concatenate([b["id"] for b in batches[:5]])
  e1 = np.concatenate([b["id"] for b in batches[5:]])
  assert sorted(e0) == list(range(20)) and sorted(e1) == list(range(20))
  assert not np.array_equal(e0, e1)


def test_disjoint_per_process_slices():
  src = _source(21)
  per = [np.concatenate([b["id"] for b in _take(_train(src, pc=3, pi=p, batch=6), 3)])
         for p in range(3)]  # 21 // 3 = 7 per process -> 3 steps of 2
  for a in range(3):
    for b in range(a + 1, 3):
      assert not set(per[a]) & set(per[b])
  assert len(set(np.concatenate(per))) == 18


@pytest.mark.parametrize("k", [1, 4, 5, 7, 12])
def test_resume_at_step_k_gives_the_same_batches(k):
  src = _source(20)
  straight = _take(_train(src, seed=3), k + 4)[k:]
  resumed = _take(_train(src, seed=3, start=k), 4)
  for a, b in zip(straight, resumed):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_seed_changes_the_order():
  src = _source(20)
  a = np.concatenate([b["id"] for b in _take(_train(src, seed=0), 5)])
  b = np.concatenate([b["id"] for b in _take(_train(src, seed=1), 5)])
  assert not np.array_equal(a, b)


def test_eval_padding_and_mask():
  src = _source(20)  # validation: 11 examples
  per_process = []
  for pi in range(2):
    batches = list(pipeline.eval_iterator(src, "validation", local_batch=4, process_index=pi,
                                          process_count=2))
    per_process.append(batches)
  # 11 examples over 2 processes: 6 and 5 -> 2 batches of 4 on both processes.
  assert [len(b) for b in per_process] == [2, 2]
  seen = []
  for batches in per_process:
    for b in batches:
      assert b["_mask"].dtype == bool and b["image"].shape == (4, 8, 8, 3)
      seen += list(b["id"][b["_mask"]])
      assert (b["image"][~b["_mask"]] == 0).all()
  assert sorted(seen) == list(range(11))
  assert int(sum(b["_mask"].sum() for b in per_process[1])) == 5


def test_too_few_examples_for_a_batch():
  with pytest.raises(ValueError, match="cannot fill one batch"):
    pipeline.steps_per_epoch(5, 8, 1)


def test_text_length_summary(minilm_dir):
  from input_pipeline import text_lengths  # pylint: disable=g-import-not-at-top
  lengths = text_lengths.token_lengths(["a photo", "word " * 100], minilm_dir)
  assert lengths.tolist() == [4, 102]  # [CLS] a photo [SEP]; 100 words + 2
  s = text_lengths.summarize(np.array([10] * 98 + [100, 300]), coverage=0.99)
  assert s["truncated_fraction"][64] == 0.02 and s["truncated_fraction"][128] == 0.01
  assert s["recommended_max_length"] == 128  # the 99th percentile (100) rounded up to 32s
