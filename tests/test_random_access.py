"""The array_record copy of a prepared dataset: the same records, by index; old preparations."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import mpii
from input_pipeline import pipeline
from input_pipeline import prepare
from input_pipeline import random_access
from tests import mpii_fixture
from tests.helpers import tiny


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, minilm_dir):
  root = tmp_path_factory.mktemp("ra")
  mpii_fixture.make_manual_dir(str(root / "manual"), num_good_train=4, num_val=2)
  builder = prepare.prepare(str(root / "manual"), "gpt-4-224px", str(root / "tfds"),
                            tokenizer=minilm_dir)
  return builder.data_dir, str(root / "tfds")


def test_records_by_index_are_the_tfrecord_records(prepared):
  builder_dir, _ = prepared
  assert random_access.has_array_record(builder_dir)
  for split in ("train", "validation"):
    (path,) = tf.io.gfile.glob(os.path.join(builder_dir, f"*-{split}.tfrecord-*"))
    stored = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    reader = random_access.IndexReader(builder_dir, split)
    assert len(reader) == len(stored) > 1
    order = np.arange(len(stored))[::-1].copy()
    assert list(reader.read(order)) == [stored[i] for i in order]
    assert len(reader.read(np.zeros(0, np.int64))) == 0


def test_a_preparation_without_the_copy_names_the_fix(prepared, tmp_path, minilm_dir):
  builder_dir, data_dir = prepared
  # A dataset prepared before the copy existed: the tfrecord shards and their dataset_info.
  old_dir = tmp_path / "tfds" / os.path.relpath(builder_dir, data_dir)
  old_dir.mkdir(parents=True)
  for name in os.listdir(builder_dir):
    if "array_record" not in name:
      tf.io.gfile.copy(os.path.join(builder_dir, name), str(old_dir / name))
  info = json.loads((old_dir / "dataset_info.json").read_text())
  info.pop("alternativeFileFormats")
  (old_dir / "dataset_info.json").write_text(json.dumps(info))
  config = tiny(**{"data.dataset": "mpii_pose_descriptions",
                   "data.data_dir": str(tmp_path / "tfds"),
                   "model.text.tokenizer": minilm_dir, "train.batch_size": 2})
  with pytest.raises(FileNotFoundError, match="no array_record copy.*\n.*input_pipeline.prepare"):
    mpii.source(config)
  assert random_access.add_array_record_copy(str(old_dir))
  assert not random_access.add_array_record_copy(str(old_dir))  # already there
  ds = pipeline.create_datasets(config, process_index=0, process_count=1)
  batch = next(ds.train_iter(0))
  np.testing.assert_array_equal(
      batch["index"], pipeline.global_batch_indices(config.seed, 0, ds.num_train_examples,
                                                    config.train.batch_size))
