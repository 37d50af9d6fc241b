"""Random access to a prepared TFDS dataset: its ``array_record`` copy, read by record index.

The training pipeline reads the records of each global batch by their index in the split
(input_pipeline/pipeline.py), which TFDS supports for the ``array_record`` file format
(``builder.as_data_source``, the way Grain reads). ``tfds.builder.as_dataset`` reads
``tfrecord`` only, so a preparation keeps both: the builder writes ``tfrecord`` shards and
``add_array_record_copy`` writes the same serialized examples, shard by shard, as
``array_record`` shards next to them and lists the format in ``dataset_info.json``
(``alternative_file_formats``), which is what ``tfds convert_format`` does in place (that tool
needs Apache Beam; this does not).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from tensorflow_datasets.core import dataset_info as dataset_info_lib
from tensorflow_datasets.core import file_adapters

ARRAY_RECORD = file_adapters.FileFormat.ARRAY_RECORD
# One record per chunk (what TFDS writes): reading one example decodes only that example.
# The stored images and heatmaps are PNG/JPEG bytes already, so no second compression.
WRITER_OPTIONS = "group_size:1,uncompressed"


def has_array_record(builder_dir: str) -> bool:
  info = dataset_info_lib.read_proto_from_builder_dir(builder_dir)
  return ARRAY_RECORD.value in dataset_info_lib.available_file_formats(info)


def add_array_record_copy(builder_dir: str) -> bool:
  """Writes the array_record shards of a tfrecord preparation; False if already there."""
  info = dataset_info_lib.read_proto_from_builder_dir(builder_dir)
  if ARRAY_RECORD.value in dataset_info_lib.available_file_formats(info):
    return False
  splits = dataset_info_lib.get_split_dict_from_proto(
      dataset_info_proto=info, data_dir=builder_dir, file_format=info.file_format)
  for split in splits.values():
    template = split.filename_template
    out_template = template.replace(filetype_suffix=ARRAY_RECORD.file_suffix)
    num_shards = len(split.shard_lengths)
    for shard in range(num_shards):
      src = template.sharded_filepath(shard_index=shard, num_shards=num_shards)
      dst = os.fspath(out_template.sharded_filepath(shard_index=shard, num_shards=num_shards))
      tmp = dst + ".incomplete"
      writer = array_record_module.ArrayRecordWriter(tmp, WRITER_OPTIONS)
      count = 0
      for serialized in tf.data.TFRecordDataset(os.fspath(src)).as_numpy_iterator():
        writer.write(serialized)
        count += 1
      writer.close()
      if count != split.shard_lengths[shard]:
        raise ValueError(f"{src} holds {count} examples, dataset_info.json says "
                         f"{split.shard_lengths[shard]}: the preparation is corrupt; delete "
                         f"{builder_dir} and prepare again")
      os.replace(tmp, dst)
  info.alternative_file_formats.append(ARRAY_RECORD.value)
  dataset_info_lib.write_dataset_info_proto(info, dataset_info_dir=builder_dir)
  return True


class IndexReader:
  """Serialized examples of one split by record index (parallel reads of a batch)."""

  def __init__(self, builder_dir: str, split: str):
    # A builder restored from the directory: one built from code does not pick up
    # alternative_file_formats from dataset_info.json (tensorflow-datasets 4.9.10).
    self.source = tfds.builder_from_directory(builder_dir).as_data_source(
        split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
        file_format=ARRAY_RECORD)

  def __len__(self):
    return len(self.source)

  def read(self, indices: np.ndarray) -> np.ndarray:
    return np.asarray(self.source.__getitems__(indices.tolist()) if len(indices) else [],
                      dtype=object)

  def read_tf(self, indices: tf.Tensor) -> tf.Tensor:
    """The same inside a tf.data pipeline: int64 [n] -> tf.string [n]."""
    out = tf.numpy_function(self.read, [indices], tf.string, stateful=False)
    out.set_shape(indices.shape)
    return out
