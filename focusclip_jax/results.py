"""Zero-shot results: the paper's averages, and writing an evaluation's outputs.

``zeroshot`` computes; this module writes what it computed: per-dataset JSON records, the
confusion-matrix and example plots (drawn by ``visualization``), ``summary.json``,
``results.md`` (this run vs chance vs the paper) and ``retrieval.json``.

Two averaging schemes reproduce the paper's headline numbers from its per-dataset table
(docs/method.md §6.3, §7.2):

  three-task (arXiv v1-v3 abstracts): activity = Stanford40; age = mean(EMOTIC-age,
      LAGENDA-body, LAGENDA-face, UTKFace); emotion = mean(EMOTIC-emotion, FER2013);
      overall = mean of the three.  FocusCLIP 33.65 vs CLIP 25.04.
  four-task (CVPR-era README, all ten evaluations): action = mean(Kinetics, Stanford40);
      age = the four above; emotion = mean(EMOTIC, FER2013, FER+); race = FairFace;
      overall = mean of the four.  FocusCLIP 30.52 vs CLIP 24.54.

Result files follow CLIP_benchmark's schema (one JSON per dataset and model) with the
templates/prompts, class names and protocol switches that produced the numbers.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from focusclip_jax import metrics as metrics_lib
from focusclip_jax.jsonio import write_json
from focusclip_jax import visualization
from input_pipeline import eval_pipeline

THREE_TASK = {
    "activity": ("stanford40",),
    "age": ("emotic_age", "lagenda_body", "lagenda_face", "utkface"),
    "emotion": ("emotic_emotion", "fer2013"),
}
FOUR_TASK = {
    "action": ("kinetics400", "stanford40"),
    "age": ("emotic_age", "lagenda_body", "lagenda_face", "utkface"),
    "emotion": ("emotic_emotion", "fer2013", "ferplus"),
    "race": ("fairface_race",),
}
SCHEMES = {"three_task": THREE_TASK, "four_task": FOUR_TASK}

# The paper's per-dataset table (docs/method.md §7.1), in %, top-k as in the paper.
PAPER_TABLE = {
    "Simulated random": {"kinetics400": 0.76, "stanford40": 8.24, "emotic_age": 33.54,
                         "lagenda_body": 33.46, "lagenda_face": 33.13, "utkface": 20.86,
                         "emotic_emotion": 11.54, "fer2013": 43.23, "ferplus": 36.79,
                         "fairface_race": 14.45},
    "CLIP (paper)": {"kinetics400": 15.00, "stanford40": 6.49, "emotic_age": 37.56,
                     "lagenda_body": 39.48, "lagenda_face": 44.56, "utkface": 27.02,
                     "emotic_emotion": 10.39, "fer2013": 52.56, "ferplus": 47.38,
                     "fairface_race": 13.47},
    "FocusCLIP (paper)": {"kinetics400": 15.18, "stanford40": 10.47, "emotic_age": 41.80,
                          "lagenda_body": 59.44, "lagenda_face": 71.41, "utkface": 35.13,
                          "emotic_emotion": 13.73, "fer2013": 63.35, "ferplus": 47.57,
                          "fairface_race": 15.78},
}

SHORT_NAMES = {
    "kinetics400": "Kinetics", "stanford40": "Stanford40", "emotic_age": "EMOTIC age",
    "lagenda_body": "LG-B", "lagenda_face": "LG-F", "utkface": "UTK",
    "emotic_emotion": "EMOTIC emo", "fer2013": "FER13", "ferplus": "FER+",
    "fairface_race": "FairFace", "cub": "CUB",
}


def task_averages(scores: Mapping[str, float], scheme: str = "three_task") -> dict[str, float]:
  """Per-task means and 'overall' (mean of task means) for one scheme.

  A task whose datasets are not all present is NaN, and so is the overall average then.
  """
  groups = SCHEMES[scheme]
  out = {}
  for task, names in groups.items():
    vals = [scores.get(n, float("nan")) for n in names]
    out[task] = sum(vals) / len(vals) if all(not math.isnan(v) for v in vals) else float("nan")
  tasks = [out[t] for t in groups]
  out["overall"] = (sum(tasks) / len(tasks) if all(not math.isnan(v) for v in tasks)
                    else float("nan"))
  return out


def all_averages(scores: Mapping[str, float]) -> dict[str, dict[str, float]]:
  return {scheme: task_averages(scores, scheme) for scheme in SCHEMES}


def result_record(*, dataset: str, model: str, checkpoint: str, metrics: Mapping[str, Any],
                  classnames: Sequence[str], prompts: Sequence[Sequence[str]], k: int,
                  task: str, protocol: Mapping[str, Any], num_examples: int,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """One CLIP_benchmark-like result record."""
  return {
      "dataset": dataset,
      "model": model,
      "pretrained": checkpoint,
      "task": "zeroshot_classification",
      "language": "en",
      "metrics": dict(metrics),
      "k": k,
      "human_task": task,
      "num_examples": num_examples,
      "classnames": list(classnames),
      "prompts": [list(p) for p in prompts],
      "protocol": dict(protocol),
      **(dict(extra) if extra else {}),
  }


def _fmt(v: float) -> str:
  return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def markdown_table(runs: Mapping[str, Mapping[str, float]],
                   datasets: Sequence[str] | None = None,
                   with_averages: bool = True) -> str:
  """Runs (name -> {dataset: score in %}) as a markdown table with the paper's averages."""
  if datasets is None:
    seen = []
    for scores in runs.values():
      seen += [d for d in scores if d not in seen]
    datasets = seen
  cols = [SHORT_NAMES.get(d, d) for d in datasets]
  header = ["run"] + cols
  if with_averages:
    header += ["3-task avg", "4-task avg"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
  for name, scores in runs.items():
    row = [name] + [_fmt(scores.get(d, float("nan"))) for d in datasets]
    if with_averages:
      row += [_fmt(task_averages(scores, "three_task")["overall"]),
              _fmt(task_averages(scores, "four_task")["overall"])]
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)


# ---------------------------------------------------------------------- an evaluation's outputs


def protocol_record(config) -> dict[str, Any]:
  """The evaluation switches and preprocessing behind a result (stored with it)."""
  return {"paper_protocol": bool(config.eval.paper_protocol),
          "fixed_grammar": bool(config.eval.fixed_grammar),
          "prompts_file": config.eval.prompts_file or None,
          "image_size": config.model.image.image_size,
          "resize": "squash, PIL bilinear",
          "text_max_length": config.model.text.max_length,
          "text_pooling": config.model.text.pooling,
          "tokenizer": config.model.text.tokenizer}


def top_predictions(scores, classnames: Sequence[str], top: int = 3):
  """Per example [(class name, score), ...] of the ``top`` best classes (for pictures)."""
  top_idx = metrics_lib.topk_predictions(scores, top)
  return [[(classnames[c], float(scores[i, c])) for c in row] for i, row in enumerate(top_idx)]


def write_dataset(output_dir: str, name: str, dataset, result, config, *, model_name: str,
                  checkpoint: str) -> None:
  """``<name>.json``, ``plots/confusion_<name>.png`` and ``plots/examples_<name>.png``.

  ``dataset``: the ``EvalDataset``; ``result``: its ``zeroshot.DatasetResult``. The example
  grid shows ``config.eval.num_plot_examples`` evenly spaced examples (none when 0).
  """
  write_json(result_record(
      dataset=name, model=model_name, checkpoint=checkpoint, metrics=result.metrics,
      classnames=dataset.classnames, prompts=dataset.prompts, k=dataset.k, task=dataset.task,
      protocol=protocol_record(config), num_examples=len(result.labels),
      extra={"dataset_info": dataset.info,
             # Per example (in the reader's order): top-k correct, for paired comparisons
             # of two checkpoints on the same examples (focusclip_jax/compare.py).
             "example_hits": result.hits().tolist()}),
      os.path.join(output_dir, f"{name}.json"))
  cm = metrics_lib.confusion_matrix(result.scores, result.labels, dataset.num_classes)
  visualization.confusion_matrix_png(
      cm, dataset.classnames, os.path.join(output_dir, "plots", f"confusion_{name}.png"),
      title=f"{name}: acc@{dataset.k} {result.metrics['score']:.1f}% ({model_name})")
  n = min(config.eval.num_plot_examples, len(result.labels))
  if not n:
    return
  pick = np.linspace(0, len(result.labels) - 1, n).astype(int)
  images = np.stack([eval_pipeline.preprocess(dataset.load_image(dataset.examples[i]),
                                              config.model.image.image_size)
                     for i in pick]).astype(np.float32) / 255.0
  preds = top_predictions(result.scores, dataset.classnames, 3)
  visualization.example_grid_png(
      images, os.path.join(output_dir, "plots", f"examples_{name}.png"),
      predictions=[preds[i] for i in pick],
      truths=[dataset.classnames[result.labels[i]] for i in pick],
      title=f"{name} ({model_name}): top-3 predictions")


def probe_table(per_dataset, probe) -> str:
  """Markdown: per dataset the zero-shot score next to the linear probe's top-1 and mean
  per-class accuracy (or why it was skipped)."""
  lines = ["| dataset | zero-shot score | linear probe top-1 | linear probe mean per-class | "
           "L2 | train / test |", "|---|---:|---:|---:|---:|---:|"]
  for name, p in probe.items():
    zs = _fmt(per_dataset[name]["score"]) if name in per_dataset else "–"
    if "skipped" in p:
      lines.append(f"| {name} | {zs} | skipped: {p['skipped'][:80]} | | | |")
    else:
      lines.append(f"| {name} | {zs} | {_fmt(p['acc1'])} | {_fmt(p['mean_per_class_recall'])} "
                   f"| {p['l2']:g} | {p['num_train']} / {p['num_test']} |")
  return "\n".join(lines)


def write_summary(per_dataset, output_dir: str, model_name: str, checkpoint: str,
                  alpha: float | None = None, probe=None) -> dict:
  """``summary.json`` (scores, chance, the paper's averages[, the linear probe]) and
  ``results.md``."""
  scores = {k: v["score"] for k, v in per_dataset.items()}
  chance = {k: v["chance"] for k, v in per_dataset.items()}
  summary = {"model": model_name, "checkpoint": checkpoint, "scores": scores,
             "chance": chance, "averages": all_averages(scores),
             "metrics": per_dataset, "alpha": alpha}
  if probe is not None:
    summary["linear_probe"] = probe
  write_json(summary, os.path.join(output_dir, "summary.json"))
  runs = {model_name: scores, "chance": chance}
  runs.update({k: v for k, v in PAPER_TABLE.items() if k != "Simulated random"})
  table = markdown_table(runs, datasets=list(scores))
  with open(os.path.join(output_dir, "results.md"), "w", encoding="utf-8") as f:
    f.write(f"# Zero-shot results: {model_name}\n\ncheckpoint: `{checkpoint}`\n\n"
            "Top-k accuracy in % (k = 3 for action and emotion, 1 for age and race, as in the "
            "paper). 'chance' is k / #classes; the paper's rows are for reference "
            "(its Stanford40 numbers suffer from a prompt-order bug, see README).\n\n"
            f"{table}\n")
    if probe is not None:
      f.write("\n## Linear probe\n\nMultinomial logistic regression on frozen image "
              "embeddings of each dataset's train split, L2 chosen on a held-out part of it, "
              "scored on the test split (accuracy in %).\n\n" + probe_table(per_dataset, probe)
              + "\n")
  return summary


def write_retrieval(metrics: Mapping[str, float], dataset: str, output_dir: str) -> str:
  """``retrieval.json``: image<->text recall@k of ``dataset``'s validation pairs."""
  return write_json({"task": "zeroshot_retrieval", "dataset": dataset, "metrics": dict(metrics)},
                    os.path.join(output_dir, "retrieval.json"))
