"""Runs the zero-shot evaluations of a model: ``zeroshot`` computes, ``results`` writes.

Standalone (``python main.py --config=... --workdir=DIR --mode=eval``): evaluates the latest
checkpoint of DIR, or ``config.eval.checkpoint`` (a checkpoint step directory or an export),
and writes to ``DIR/eval/<checkpoint label>/``:

  <dataset>.json          CLIP_benchmark-like record (metrics, prompts, class names, protocol)
  retrieval.json          MPII validation image<->text recall@1/5/10 (when the data is there)
  summary.json            per-dataset scores, the paper's three- and four-task averages
  results.md              markdown table: this checkpoint vs chance vs the paper's rows
  plots/confusion_<dataset>.png, plots/examples_<dataset>.png

During training the same code runs as the 'zeroshot' and 'retrieval' evaluators.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Sequence

import jax
import numpy as np

from focusclip_jax import checkpointing
from focusclip_jax import linear_probe
from focusclip_jax import results as results_lib
from focusclip_jax import zeroshot
from input_pipeline import eval_datasets
from input_pipeline import pipeline


def check_tasks(config, tasks: Sequence[str] | None = None) -> list[str]:
  """Fails early, listing every evaluation whose data folder is missing."""
  tasks = list(config.eval.tasks if tasks is None else tasks)
  missing = []
  for name in tasks:
    folder = eval_datasets.default_folder(name, config.eval.data_root)
    if not os.path.isdir(folder):
      missing.append(f"{name} ({folder})")
  if missing:
    raise FileNotFoundError(
        "Zero-shot data not found: " + ", ".join(missing) + ". Put each dataset there in its "
        "native layout (README: 'Zero-shot evaluation'), set config.eval.data_root, or choose "
        "config.eval.tasks.")
  return tasks


def load_dataset(config, name: str, split: str | None = None):
  ds = eval_datasets.load(name, config.eval.data_root, split=split,
                          fixed_grammar=config.eval.fixed_grammar,
                          paper_protocol=config.eval.paper_protocol)
  if config.eval.prompts_file:
    ds = ds.with_class_prompts(eval_datasets.load_class_prompts(config.eval.prompts_file, name))
  return ds


def run_zeroshot(embedder: zeroshot.Embedder, config, *, output_dir: str | None,
                 model_name: str = "focusclip", checkpoint: str = "",
                 tasks: Sequence[str] | None = None, alpha: float | None = None
                 ) -> dict[str, dict[str, float]]:
  """Evaluates ``tasks`` (default config.eval.tasks) -> {dataset: metrics}.

  ``zeroshot`` computes each dataset's result; with an ``output_dir``, process 0 writes it
  (``results.write_dataset``) and at the end the summary (``results.write_summary``).
  """
  tasks = check_tasks(config, tasks)
  out = {}
  write = output_dir is not None and jax.process_index() == 0
  for name in tasks:
    ds = load_dataset(config, name)
    res = zeroshot.evaluate_dataset(embedder, ds, batch_size=config.eval.batch_size,
                                    limit=config.eval.max_examples or None)
    zeroshot.log_result(res)
    out[name] = res.metrics
    if write:
      results_lib.write_dataset(output_dir, name, ds, res, config, model_name=model_name,
                                checkpoint=checkpoint)
  if write and out:
    results_lib.write_summary(out, output_dir, model_name, checkpoint, alpha)
  return out


def run_linear_probe(embedder: zeroshot.Embedder, config, *, output_dir: str | None,
                     tasks: Sequence[str] | None = None) -> dict[str, dict]:
  """Linear probe (focusclip_jax/linear_probe.py) of each task that has train and test splits
  (eval_datasets.PROBE_SPLITS) -> {task: metrics}; a task without them, or whose train split
  is not on disk, is skipped with its reason (in the result as {'skipped': reason}). Process 0
  writes ``linear_probe.json``."""
  out = {}
  for name in check_tasks(config, tasks):
    if name not in eval_datasets.PROBE_SPLITS:
      out[name] = {"skipped": "the dataset has no train/test split"}
      continue
    splits = eval_datasets.PROBE_SPLITS[name]
    try:
      train_ds, test_ds = (load_dataset(config, name, split=s) for s in splits)
    except (FileNotFoundError, ValueError) as e:
      out[name] = {"skipped": f"split not readable: {e}"}
      logging.warning("Linear probe of %s skipped: %s", name, e)
      continue
    limit = config.eval.max_examples or None
    feats = [zeroshot.image_embeddings(embedder, ds, batch_size=config.eval.batch_size,
                                       limit=limit) for ds in (train_ds, test_ds)]
    labels = [np.asarray([ex.label for ex in ds.examples[:len(f)]])
              for ds, f in zip((train_ds, test_ds), feats)]
    res = linear_probe.evaluate(feats[0], labels[0], feats[1], labels[1], test_ds.num_classes,
                                grid=config.eval.linear_probe_l2_grid,
                                val_fraction=config.eval.linear_probe_val_fraction,
                                seed=config.seed)
    res["splits"] = list(splits)
    out[name] = res
    logging.info("linear probe %s: top-1 %.2f%%, mean per-class %.2f%% (l2 %g, %d train, %d "
                 "test)", name, res["acc1"], res["mean_per_class_recall"], res["l2"],
                 res["num_train"], res["num_test"])
  if output_dir is not None and jax.process_index() == 0:
    results_lib.write_json(out, os.path.join(output_dir, "linear_probe.json"))
  return out


def run_retrieval(embedder: zeroshot.Embedder, datasets, *,
                  output_dir: str | None = None) -> dict[str, float]:
  """MPII validation image<->text retrieval (R@1/5/10 in %); process 0 writes retrieval.json."""
  res = zeroshot.retrieval(embedder, datasets.eval_iter())
  logging.info("retrieval: %s", {k: round(v, 2) for k, v in res.items()})
  if output_dir is not None and jax.process_index() == 0:
    results_lib.write_retrieval(res, datasets.source.name, output_dir)
  return res


def checkpoint_label(path: str) -> str:
  path = path.rstrip("/")
  base = os.path.basename(path)
  if base.isdigit():
    return f"step_{base}"
  return base or "checkpoint"


def evaluate_checkpoint(config, workdir: str) -> dict:
  """``--mode=eval``: zero-shot (+ retrieval) of the latest or the configured checkpoint."""
  path = config.eval.checkpoint or workdir
  model, params, ckpt_config = checkpointing.load_for_inference(path)
  # The architecture comes from the checkpoint; evaluation settings from this config.
  ckpt_config.eval = config.eval
  ckpt_config.sharding = config.sharding
  ckpt_config.data = config.data
  resolved = checkpointing.resolve_checkpoint_dir(path)
  label = checkpoint_label(resolved)
  output_dir = os.path.join(workdir, "eval", label)
  embedder = zeroshot.Embedder(model, params, ckpt_config)
  alpha = float(params["alpha"]) if "alpha" in params else None
  name = "focusclip" if ckpt_config.model.focus.enabled else "clip_baseline"
  summary = {"checkpoint": resolved, "output_dir": output_dir}
  tasks = list(config.eval.tasks)
  if tasks:
    summary["zeroshot"] = run_zeroshot(embedder, ckpt_config, output_dir=output_dir,
                                       model_name=name, checkpoint=resolved, alpha=alpha)
  if tasks and config.eval.linear_probe:
    summary["linear_probe"] = run_linear_probe(embedder, ckpt_config, output_dir=output_dir)
    if jax.process_index() == 0:  # the summary again, with the probe next to zero-shot
      results_lib.write_summary(summary["zeroshot"], output_dir, name, resolved, alpha,
                                probe=summary["linear_probe"])
  if config.eval.retrieval:
    try:
      datasets = pipeline.create_datasets(ckpt_config)
    except FileNotFoundError as e:
      logging.warning("Skipping retrieval: %s", e)
    else:
      summary["retrieval"] = run_retrieval(embedder, datasets, output_dir=output_dir)
  if jax.process_index() == 0:
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "run.json"), "w", encoding="utf-8") as f:
      json.dump(summary, f, indent=2, default=float)
  return summary
