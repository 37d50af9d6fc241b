r"""The embedded demo: everything FocusCLIP does, offline, on a laptop CPU (``make demo``).

  python -m focusclip_tools.demo --workdir=workdirs/demo [--steps=N] [--fresh]
      [--config_override key=value ...]   (applied to both runs' configs/demo.py)

1. renders the demo dataset (focusclip_tools/demo_data: articulated people doing 10
   activities on cluttered backgrounds, MPII Pose Descriptions layout, descriptions from the
   keypoint-geometry describer) and held-out zero-shot sets;
2. prepares it with the real TFDS builder (heatmaps precomputed);
3. trains FocusCLIP and the CLIP baseline (configs/demo.py, loaded by path: the library and
   the tools never import ``configs``) with the real train loop;
4. evaluates both zero-shot with the real evaluator (activities: Stanford40 layout, top-3;
   age: LAGENDA layout, kid vs adult, top-1);
5. prints the comparison table and writes pictures: training curves, images with their
   heatmaps and highlighted views, and confusion matrices (``<workdir>/pictures``).

Steps already done (data, preparation, finished training runs) are reused on a second run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from focusclip_jax import checkpointing
from focusclip_jax import compare
from focusclip_jax import config_files
from focusclip_jax import distributed
from focusclip_jax import evaluation
from focusclip_jax import log_util
from focusclip_jax import train
from focusclip_jax import visualization
from focusclip_tools.demo_data import writer as demo_data
from input_pipeline import pipeline
from input_pipeline import prepare
from input_pipeline.tokenizer import get_tokenizer

TASKS = {"stanford40": "activity (top-3)", "lagenda_body": "age: kid vs adult (top-1)"}
# The demo's config file, next to the package in a checkout (configs/ is not installed).
CONFIG_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "configs", "demo.py")


def demo_config(arg: str, workdir: str, steps: int | None = None, overrides=()):
  """configs/demo.py:<arg> with ``key=value`` overrides, the workdir's data paths (and
  ``steps`` training steps)."""
  config = config_files.load(CONFIG_FILE, overrides, arg=arg)
  config.data.data_dir = os.path.join(workdir, "tfds")
  config.eval.data_root = os.path.join(workdir, "data", "zeroshot")
  config.eval.retrieval = True
  if steps:
    config.train.num_steps = steps
  return config


def _scalars(workdir: str, tag: str) -> dict[int, float]:
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*"))):
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
      event = tf.compat.v1.Event.FromString(raw)
      for v in event.summary.value:
        if v.tag == tag:
          out[event.step] = float(tf.make_ndarray(v.tensor))
  return out


def _heatmap_grid(config, workdir: str, alpha: float, path: str, n: int = 8) -> str:
  ds = pipeline.create_datasets(config, process_index=0, process_count=1)
  batch = next(ds.eval_iter())
  tok = get_tokenizer(config.model.text.tokenizer, config.model.text.max_length)
  captions = [tok.decode(ids).replace("[CLS]", "").replace("[SEP]", "").strip()
              for ids in batch["text_ids"][:n]]
  return visualization.example_grid_png(
      batch["image"][:n], path, heatmaps=batch["heatmap"][:n], alpha=alpha,
      captions=captions, cols=2,
      title=f"demo validation images, their heatmaps and the highlighted view (learned alpha "
            f"{alpha:.2f})")


def prepare_data(workdir: str, *, num_train: int | None = None, num_eval: int = 200,
                 timings: dict | None = None, steps=("[1/2]", "[2/2]"), overrides=()):
  """Renders the demo data into <workdir>/data (once) and prepares it into <workdir>/tfds."""
  timings = {} if timings is None else timings
  t = time.time()
  data = os.path.join(workdir, "data")
  if not os.path.exists(os.path.join(data, "demo_info.json")):
    print(f"{steps[0]} Rendering the demo dataset ...", flush=True)
    demo_data.write_demo(data, num_train=num_train or demo_data.NUM_TRAIN, num_eval=num_eval)
  timings["data_s"] = time.time() - t
  config = demo_config("focusclip", workdir, overrides=overrides)
  t = time.time()
  print(f"{steps[1]} Preparing it with the TFDS builder (heatmaps precomputed) ...", flush=True)
  builder = prepare.prepare(os.path.join(data, "mpii"), config.data.builder_config,
                            config.data.data_dir, tokenizer=config.model.text.tokenizer)
  timings["prepare_s"] = time.time() - t
  return builder


def run(workdir: str, *, steps: int | None = None, fresh: bool = False,
        num_train: int | None = None, num_eval: int = 200, overrides=()) -> dict:
  log_util.quiet_library_logs()
  train.hide_gpus_from_tensorflow()
  workdir = os.path.abspath(workdir)
  if fresh and os.path.exists(workdir):
    shutil.rmtree(workdir)
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  timings = {}

  focus_cfg = demo_config("focusclip", workdir, steps, overrides)
  distributed.apply_xla_flags(focus_cfg.xla_flags)  # before JAX starts (the same for both)
  builder = prepare_data(workdir, num_train=num_train, num_eval=num_eval, timings=timings,
                         steps=("[1/5]", "[2/5]"), overrides=overrides)

  runs = {}
  for step_no, (name, arg) in enumerate((("FocusCLIP", "focusclip"), ("CLIP baseline", "clip"))):
    config = demo_config(arg, workdir, steps, overrides)
    run_dir = os.path.join(workdir, arg)
    t = time.time()
    print(f"[{3 + step_no}/5] Training {name} for {config.train.num_steps} steps "
          f"(logs: {run_dir}) ...", flush=True)
    train.train_and_evaluate(config, run_dir)
    timings[f"train_{arg}_s"] = time.time() - t
    t = time.time()
    summary = evaluation.evaluate_checkpoint(config, run_dir)
    timings[f"eval_{arg}_s"] = time.time() - t
    runs[name] = {"config": config, "dir": run_dir, "summary": summary}

  print("[5/5] Pictures and the results table ...", flush=True)
  pictures = os.path.join(workdir, "pictures")
  os.makedirs(pictures, exist_ok=True)
  curves = {"train loss": {}, "validation loss": {}, "alpha (FocusCLIP)": {}}
  for name, r in runs.items():
    curves["train loss"][name] = _scalars(r["dir"], "train/loss")
    curves["validation loss"][name] = _scalars(r["dir"], "val/image_text/loss")
  curves["alpha (FocusCLIP)"]["alpha"] = _scalars(runs["FocusCLIP"]["dir"], "train/alpha")
  curves["validation loss"] = {f"{k} (image-text term)": v
                               for k, v in curves["validation loss"].items()}
  files = [visualization.curves_png(curves, os.path.join(pictures, "training_curves.png"),
                                    title="FocusCLIP vs CLIP baseline on the demo data")]
  _, params, _ = checkpointing.load_for_inference(runs["FocusCLIP"]["dir"])
  alpha = float(np.asarray(params["alpha"]))
  files.append(_heatmap_grid(runs["FocusCLIP"]["config"], workdir, alpha,
                             os.path.join(pictures, "heatmaps_and_highlighted.png")))
  for name, r in runs.items():
    tag = "focusclip" if name == "FocusCLIP" else "clip"
    for png in glob.glob(os.path.join(r["summary"]["output_dir"], "plots", "*.png")):
      dst = os.path.join(pictures, f"{tag}_{os.path.basename(png)}")
      shutil.copy(png, dst)
      files.append(dst)

  # Each model's accuracy with its 95% interval, the paired difference on the same held-out
  # renders with its bootstrap interval, and a verdict only where that interval excludes 0.
  names = ("FocusCLIP", "CLIP baseline")
  comparison = compare.compare_groups(
      {name: [compare.load_hits(runs[name]["summary"]["output_dir"])] for name in names})
  comparison["tasks"] = {t: comparison["tasks"][t] for t in TASKS}  # the table's row order
  rows = []
  for task, label in TASKS.items():
    e = comparison["tasks"][task]
    rows.append((label, e[names[0]]["mean"], e[names[1]]["mean"],
                 runs["FocusCLIP"]["summary"]["zeroshot"][task]["chance"]))
  table = compare.markdown(comparison, labels=TASKS).split("\n\n")[0]
  chance = " ".join(f"{label} {ch:.1f}%;" for label, _, _, ch in rows)
  verdicts = [f"- {TASKS[t]}: {e['verdict']}" for t, e in comparison["tasks"].items()]
  ret = {name: r["summary"].get("retrieval", {}) for name, r in runs.items()}
  if all(ret.values()):
    verdicts.append(
        "- MPII-style validation retrieval, image→text R@1 (no interval; not a verdict): "
        f"FocusCLIP {ret['FocusCLIP']['image_to_text_R@1']:.1f}, CLIP baseline "
        f"{ret['CLIP baseline']['image_to_text_R@1']:.1f}, chance "
        f"{100 / ret['FocusCLIP']['num_pairs']:.1f}.")
  table += (f"\n\nChance: {chance.rstrip(';')}. The intervals cover the sampling of the "
            "held-out renders for these two trained models (one seed each), not the "
            "variation between training runs: `make experiment` measures that over seeds.")
  timings["total_s"] = time.time() - t0
  result = {"table": table, "rows": rows, "pictures": files, "timings": timings,
            "alpha": alpha, "verdicts": verdicts, "comparison": comparison}
  with open(os.path.join(workdir, "results.md"), "w", encoding="utf-8") as fh:
    fh.write("# FocusCLIP demo\n\nZero-shot accuracy in % on held-out renders "
             f"({focus_cfg.train.num_steps} training steps each, one seed; 95% intervals: "
             "bootstrap over the test examples per model, paired bootstrap for the difference).\n\n"
             f"{table}\n\n"
             + "\n".join(verdicts) + f"\n\nLearned alpha: {alpha:.3f}\n")
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as fh:
    json.dump({k: v for k, v in result.items()}, fh, indent=2, default=float)
  print("\n" + table + "\n")
  print("\n".join(verdicts))
  print(f"\nLearned alpha: {alpha:.3f}; builder: {builder.info.full_name}")
  print(f"Pictures in {pictures}:")
  for f in files:
    print(f"  {os.path.basename(f)}")
  print(f"TensorBoard: tensorboard --logdir {workdir}")
  print(f"Done in {timings['total_s'] / 60:.1f} min.")
  return result


def argument_parser(doc: str, workdir: str, steps: int | None) -> argparse.ArgumentParser:
  """The flags the demo and the experiment share (workdir, steps, data sizes)."""
  p = argparse.ArgumentParser(description=doc,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workdir", default=workdir)
  p.add_argument("--steps", type=int, default=steps, help="training steps per run")
  p.add_argument("--num_train", type=int, default=None,
                 help=f"rendered training images (default: {demo_data.NUM_TRAIN})")
  p.add_argument("--num_eval", type=int, default=200,
                 help="rendered held-out images per zero-shot task")
  p.add_argument("--config_override", nargs="*", default=[], metavar="KEY=VALUE",
                 help="overrides of configs/demo.py for every run, e.g. "
                      "model.embed_dim=64 (the suite's toy run uses smaller towers)")
  return p


def main():
  p = argument_parser(__doc__, "workdirs/demo", None)
  p.add_argument("--fresh", action="store_true", help="delete the workdir first")
  args = p.parse_args()
  run(args.workdir, steps=args.steps, fresh=args.fresh, num_train=args.num_train,
      num_eval=args.num_eval, overrides=args.config_override)


if __name__ == "__main__":
  main()
