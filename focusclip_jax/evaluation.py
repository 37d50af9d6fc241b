"""Runs the zero-shot evaluations and writes their results, tables and pictures.

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

from focusclip_jax import metrics as metrics_lib
from focusclip_jax import results as results_lib
from focusclip_jax import visualization
from focusclip_jax import zeroshot


def _protocol(config) -> dict:
  return {"paper_protocol": bool(config.eval.paper_protocol),
          "fixed_grammar": bool(config.eval.fixed_grammar),
          "prompts_file": config.eval.prompts_file or None,
          "image_size": config.model.image.image_size,
          "resize": "squash, PIL bilinear",
          "text_max_length": config.model.text.max_length,
          "text_pooling": config.model.text.pooling,
          "tokenizer": config.model.text.tokenizer}


def check_tasks(config, tasks: Sequence[str] | None = None) -> list[str]:
  """Fails early, listing every evaluation whose data folder is missing."""
  from input_pipeline import eval_datasets  # pylint: disable=g-import-not-at-top
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


def load_dataset(config, name: str):
  from input_pipeline import eval_datasets  # pylint: disable=g-import-not-at-top
  ds = eval_datasets.load(name, config.eval.data_root, fixed_grammar=config.eval.fixed_grammar,
                          paper_protocol=config.eval.paper_protocol)
  if config.eval.prompts_file:
    ds = ds.with_class_prompts(eval_datasets.load_class_prompts(config.eval.prompts_file, name))
  return ds


def run_zeroshot(encoder: zeroshot.Encoder, config, *, output_dir: str | None,
                 model_name: str = "focusclip", checkpoint: str = "",
                 tasks: Sequence[str] | None = None, alpha: float | None = None
                 ) -> dict[str, dict[str, float]]:
  """Evaluates ``tasks`` (default config.eval.tasks); returns {dataset: metrics}."""
  tasks = check_tasks(config, tasks)
  out = {}
  write = output_dir is not None and jax.process_index() == 0
  for name in tasks:
    ds = load_dataset(config, name)
    res = zeroshot.evaluate_dataset(encoder, ds, batch_size=config.eval.batch_size,
                                    limit=config.eval.max_examples or None)
    zeroshot.log_result(res)
    out[name] = res.metrics
    if not write:
      continue
    results_lib.write_json(results_lib.result_record(
        dataset=name, model=model_name, checkpoint=checkpoint, metrics=res.metrics,
        classnames=ds.classnames, prompts=ds.prompts, k=ds.k, task=ds.task,
        protocol=_protocol(config), num_examples=len(res.labels),
        extra={"dataset_info": ds.info}), os.path.join(output_dir, f"{name}.json"))
    cm = metrics_lib.confusion_matrix(res.scores, res.labels, ds.num_classes)
    visualization.confusion_matrix_png(
        cm, ds.classnames, os.path.join(output_dir, "plots", f"confusion_{name}.png"),
        title=f"{name}: acc@{ds.k} {res.metrics['score']:.1f}% ({model_name})")
    n = min(config.eval.num_plot_examples, len(res.labels))
    if n:
      from input_pipeline import eval_pipeline  # pylint: disable=g-import-not-at-top
      pick = np.linspace(0, len(res.labels) - 1, n).astype(int)
      images = np.stack([eval_pipeline.preprocess(ds.load_image(ds.examples[i]),
                                                  config.model.image.image_size)
                         for i in pick]).astype(np.float32) / 255.0
      preds = zeroshot.scores_to_predictions(res, ds.classnames, 3)
      visualization.example_grid_png(
          images, os.path.join(output_dir, "plots", f"examples_{name}.png"),
          predictions=[preds[i] for i in pick],
          truths=[ds.classnames[res.labels[i]] for i in pick],
          title=f"{name} ({model_name}): top-3 predictions")
  if write and out:
    write_summary(out, output_dir, model_name, checkpoint, alpha)
  return out


def write_summary(per_dataset, output_dir: str, model_name: str, checkpoint: str,
                  alpha: float | None = None) -> dict:
  scores = {k: v["score"] for k, v in per_dataset.items()}
  chance = {k: v["chance"] for k, v in per_dataset.items()}
  summary = {"model": model_name, "checkpoint": checkpoint, "scores": scores,
             "chance": chance, "averages": results_lib.all_averages(scores),
             "metrics": per_dataset, "alpha": alpha}
  results_lib.write_json(summary, os.path.join(output_dir, "summary.json"))
  runs = {model_name: scores, "chance": chance}
  runs.update({k: v for k, v in results_lib.PAPER_TABLE.items() if k != "Simulated random"})
  table = results_lib.markdown_table(runs, datasets=list(scores))
  with open(os.path.join(output_dir, "results.md"), "w", encoding="utf-8") as f:
    f.write(f"# Zero-shot results: {model_name}\n\ncheckpoint: `{checkpoint}`\n\n"
            "Top-k accuracy in % (k = 3 for action and emotion, 1 for age and race, as in the "
            "paper). 'chance' is k / #classes; the paper's rows are for reference "
            "(its Stanford40 numbers suffer from a prompt-order bug, see README).\n\n"
            f"{table}\n")
  return summary


def run_retrieval(encoder: zeroshot.Encoder, config, datasets, *,
                  output_dir: str | None = None) -> dict[str, float]:
  """MPII validation image<->text retrieval (R@1/5/10 in %)."""
  res = zeroshot.retrieval(encoder, datasets.eval_iter())
  logging.info("retrieval: %s", {k: round(v, 2) for k, v in res.items()})
  if output_dir is not None and jax.process_index() == 0:
    results_lib.write_json({"task": "zeroshot_retrieval", "dataset": datasets.source.name,
                            "metrics": res}, os.path.join(output_dir, "retrieval.json"))
  return res


def checkpoint_label(path: str) -> str:
  path = path.rstrip("/")
  base = os.path.basename(path)
  if base.isdigit():
    return f"step_{base}"
  return base or "checkpoint"


def evaluate_checkpoint(config, workdir: str) -> dict:
  """``--mode=eval``: zero-shot (+ retrieval) of the latest or the configured checkpoint."""
  from focusclip_jax import checkpointing  # pylint: disable=g-import-not-at-top
  path = config.eval.checkpoint or workdir
  model, params, ckpt_config = checkpointing.load_for_inference(path)
  # The architecture comes from the checkpoint; evaluation settings from this config.
  ckpt_config.eval = config.eval
  ckpt_config.sharding = config.sharding
  ckpt_config.data = config.data
  resolved = checkpointing.resolve_checkpoint_dir(path)
  label = checkpoint_label(resolved)
  output_dir = os.path.join(workdir, "eval", label)
  encoder = zeroshot.Encoder(model, params, ckpt_config)
  alpha = float(params["alpha"]) if "alpha" in params else None
  name = "focusclip" if ckpt_config.model.focus.enabled else "clip_baseline"
  summary = {"checkpoint": resolved, "output_dir": output_dir}
  tasks = list(config.eval.tasks)
  if tasks:
    summary["zeroshot"] = run_zeroshot(encoder, ckpt_config, output_dir=output_dir,
                                       model_name=name, checkpoint=resolved, alpha=alpha)
  if config.eval.retrieval:
    try:
      from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
      datasets = pipeline.create_datasets(ckpt_config)
    except FileNotFoundError as e:
      logging.warning("Skipping retrieval: %s", e)
    else:
      summary["retrieval"] = run_retrieval(encoder, ckpt_config, datasets,
                                           output_dir=output_dir)
  if jax.process_index() == 0:
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "run.json"), "w", encoding="utf-8") as f:
      json.dump(summary, f, indent=2, default=float)
  return summary
