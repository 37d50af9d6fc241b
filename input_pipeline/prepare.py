r"""Prepares MPII Pose Descriptions (TFDS) from a manual download directory.

  python -m input_pipeline.prepare --manual_dir=/data/mpii [--config=gpt-4-224px] \
      [--data_dir=~/tensorflow_datasets] [--tokenizer=bert-base-uncased] [--min_sigma=1.0]

--manual_dir must hold images/ and descriptions/ (see
input_pipeline/mpii_pose_descriptions/mpii_pose_descriptions_dataset_builder.py,
MANUAL_DOWNLOAD_INSTRUCTIONS). Offline, point --tokenizer at a local directory with the
bert-base-uncased tokenizer.json or vocab.txt. Prints the examples kept and skipped per split.
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import app
from absl import flags

from input_pipeline import random_access
from input_pipeline.mpii_pose_descriptions import Builder
from input_pipeline.mpii_pose_descriptions import records as records_lib

_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "MPII images/ + descriptions/.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: TFDS's).")
_CONFIG = flags.DEFINE_string("config", "gpt-4-224px", "Builder config name.")
_TOKENIZER = flags.DEFINE_string("tokenizer", None,
                                 "Tokenizer (hub id or local dir); default: the config's.")
_MIN_SIGMA = flags.DEFINE_float("min_sigma", None, "Heatmap sigma floor in pixels.")


def prepare(manual_dir: str, config_name: str = "gpt-4-224px", data_dir: str | None = None,
            tokenizer: str | None = None, min_sigma: float | None = None):
  """Builds the dataset; returns the TFDS builder (``builder.info.metadata['skipped']``)."""
  configs = {c.name: c for c in Builder.BUILDER_CONFIGS}
  if config_name not in configs:
    raise ValueError(f"Unknown config {config_name!r}; choose one of {sorted(configs)}")
  manual_dir = os.path.abspath(os.path.expanduser(manual_dir))
  if not os.path.isdir(manual_dir):
    raise FileNotFoundError(f"--manual_dir {manual_dir} does not exist")
  builder = Builder(config=config_name, data_dir=data_dir, tokenizer=tokenizer,
                    min_sigma=min_sigma)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  # The training pipeline reads records by index (input_pipeline/random_access.py); this also
  # completes datasets prepared before it did.
  random_access.add_array_record_copy(builder.data_dir)
  return builder


def main(argv):
  del argv
  tf.config.set_visible_devices([], "GPU")
  builder = prepare(_MANUAL_DIR.value, _CONFIG.value, _DATA_DIR.value, _TOKENIZER.value,
                    _MIN_SIGMA.value)
  print(f"Prepared {builder.name}/{builder.builder_config.name} in {builder.data_dir}")
  for split, info in builder.info.splits.items():
    counts = (builder.info.metadata or {}).get("skipped", {}).get(split, {})
    # One dict per split holds both: records skipped whole and people/joints dropped from kept
    # records (records_lib.PERSON_COUNTERS); they are reported apart.
    dropped = {k: v for k, v in counts.items() if k in records_lib.PERSON_COUNTERS}
    skipped = {k: v for k, v in counts.items() if k not in dropped}
    print(f"  {split}: {info.num_examples} examples; skipped {sum(skipped.values())} records "
          f"{skipped}; dropped people/joints {dropped}")
    lengths = (builder.info.metadata or {}).get("text_lengths", {}).get(split)
    if lengths:
      print(f"  {split} description tokens: median {lengths['p50']:.0f}, p99 {lengths['p99']:.0f}, "
            f"max {lengths['max']} (config.model.text.attention_buckets)")
  extra = f" --config.data.data_dir={_DATA_DIR.value}" if _DATA_DIR.value else ""
  print("Train with:\n  python main.py --config=configs/vitb16.py --workdir=DIR "
        f"--config.data.builder_config={builder.builder_config.name}{extra}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["manual_dir"])
  app.run(main)
