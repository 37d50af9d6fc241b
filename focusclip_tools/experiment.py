r"""The demo as an experiment (``make experiment``): FocusCLIP, the CLIP baseline and the heatmap
control over several seeds, with confidence intervals.

  python -m focusclip_tools.experiment --workdir=workdirs/experiment [--seeds=3] [--steps=200]

On the demo data (focusclip_tools/demo.py renders and prepares it; the same data for every
run) it trains, for each seed (``config.seed`` = 0, 1, ...: initialisation, data order and
dropout), three variants of configs/demo.py:
- ``FocusCLIP``: the method (each example highlighted with its own heatmap);
- ``CLIP baseline``: no highlighted view, one loss term;
- ``heatmap control``: FocusCLIP whose highlighted view uses the heatmap of the next example
  in the batch (``model.focus.heatmap_source='other_example'``), everything else equal: it
  separates guidance to the subject from the effect of a second, differently masked view.
Each run is evaluated zero-shot on the held-out renders. Output in the workdir:
``experiment.md`` (mean ± std over seeds with 95% intervals, and the pooled paired
differences FocusCLIP − CLIP and FocusCLIP − control with a verdict only where the interval
excludes 0), ``experiment.json`` (everything behind it) and ``experiment.png`` (per task,
each variant's seed scores with mean and ±1 std). Finished runs and evaluations are reused on
a second call.
"""

from __future__ import annotations

import json
import os
import time

from focusclip_jax import compare
from focusclip_jax import distributed
from focusclip_jax import evaluation
from focusclip_jax import log_util
from focusclip_jax import train
from focusclip_jax import visualization
from focusclip_tools import demo

VARIANTS = {  # name -> (configs/demo.py argument, config overrides)
    "FocusCLIP": ("focusclip", {}),
    "CLIP baseline": ("clip", {}),
    "heatmap control": ("focusclip", {"heatmap_source": "other_example"}),
}
COMPARISONS = (("FocusCLIP", "CLIP baseline"), ("FocusCLIP", "heatmap control"),
               ("heatmap control", "CLIP baseline"))


def run_config(name: str, seed: int, workdir: str, steps: int | None, overrides=()):
  arg, focus_overrides = VARIANTS[name]
  config = demo.demo_config(arg, workdir, steps, overrides)
  config.seed = seed
  for key, value in focus_overrides.items():
    config.model.focus[key] = value
  return config


def _eval_dir(config, run_dir: str) -> str:
  """The evaluation folder of a run, evaluating it unless that was done already."""
  done = os.path.join(run_dir, "experiment_eval.json")
  if os.path.exists(done):
    with open(done, encoding="utf-8") as f:
      return json.load(f)["output_dir"]
  summary = evaluation.evaluate_checkpoint(config, run_dir)
  with open(done, "w", encoding="utf-8") as f:
    json.dump({"output_dir": summary["output_dir"]}, f)
  return summary["output_dir"]


def summarize(hits: dict, labels: dict[str, str] | None = None) -> dict:
  """{variant: [load_hits() per seed]} -> per-variant stats and the paired comparisons."""
  out = {"variants": {}, "comparisons": []}
  for a, b in COMPARISONS:
    out["comparisons"].append(compare.compare_groups({a: hits[a], b: hits[b]}))
  for name in hits:
    for cmp in out["comparisons"]:
      if name in cmp["names"]:
        out["variants"][name] = {t: e[name] for t, e in cmp["tasks"].items()}
        break
  out["labels"] = dict(labels or {})
  return out


def markdown(summary: dict) -> str:
  labels = summary["labels"]
  names = list(summary["variants"])
  tasks = list(next(iter(summary["variants"].values())))
  lines = ["| task | " + " | ".join(f"{n} (mean ± std over seeds) [95% CI]" for n in names)
           + " |", "|---|" + "---:|" * len(names)]
  for t in tasks:
    cells = []
    for n in names:
      m = summary["variants"][n][t]
      cells.append(f"{m['mean']:.1f} ± {m['std']:.1f} [{m['ci95'][0]:.1f}, {m['ci95'][1]:.1f}]")
    lines.append(f"| {labels.get(t, t)} | " + " | ".join(cells) + " |")
  lines += ["", "| task | difference | mean [95% paired CI] | verdict |", "|---|---|---:|---|"]
  for cmp in summary["comparisons"]:
    a, b = cmp["names"]
    for t, e in cmp["tasks"].items():
      d = e["difference"]
      lines.append(f"| {labels.get(t, t)} | {a} − {b} | {d['mean']:+.1f} "
                   f"[{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}] | {e['verdict']} |")
  return "\n".join(lines)


def run(workdir: str, *, seeds: int = 3, steps: int | None = 200,
        num_train: int | None = None, num_eval: int = 200, overrides=()) -> dict:
  log_util.quiet_library_logs()
  train.hide_gpus_from_tensorflow()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  distributed.apply_xla_flags(run_config("FocusCLIP", 0, workdir, steps, overrides).xla_flags)
  demo.prepare_data(workdir, num_train=num_train, num_eval=num_eval, overrides=overrides)
  hits, chance = {name: [] for name in VARIANTS}, {}
  total = len(VARIANTS) * seeds
  for seed in range(seeds):
    for i, name in enumerate(VARIANTS):
      config = run_config(name, seed, workdir, steps, overrides)
      run_dir = os.path.join(workdir, name.replace(" ", "_").lower(), f"seed{seed}")
      print(f"[{seed * len(VARIANTS) + i + 1}/{total}] {name}, seed {seed}: {config.train.num_steps} steps "
            f"({run_dir}), {(time.time() - t0) / 60:.1f} min so far", flush=True)
      train.train_and_evaluate(config, run_dir)
      out = _eval_dir(config, run_dir)
      hits[name].append(compare.load_hits(out))
      with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        chance.update(json.load(f)["chance"])
  summary = summarize(hits, labels=demo.TASKS)
  summary.update(seeds=list(range(seeds)), steps=steps, chance=chance,
                 minutes=(time.time() - t0) / 60)
  table = markdown(summary)
  with open(os.path.join(workdir, "experiment.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  with open(os.path.join(workdir, "experiment.md"), "w", encoding="utf-8") as f:
    f.write(f"# FocusCLIP vs CLIP vs heatmap control on the demo data\n\n{seeds} seeds, "
            f"{steps} steps per run, zero-shot accuracy in % on {num_eval} held-out renders per "
            f"task. Chance: {', '.join(f'{demo.TASKS.get(t, t)} {c:.1f}' for t, c in chance.items())}."
            f"\n\n{table}\n")
  scores = {demo.TASKS.get(t, t): {n: summary["variants"][n][t]["seeds"] for n in VARIANTS}
            for t in next(iter(summary["variants"].values()))}
  visualization.seed_points_png(
      scores, os.path.join(workdir, "experiment.png"),
      chance={demo.TASKS.get(t, t): c for t, c in chance.items()},
      title=f"demo data, {seeds} seeds x {steps} steps: accuracy per seed, mean ± 1 std")
  print("\n" + table)
  print(f"\nDone in {summary['minutes']:.1f} min; {workdir}/experiment.md, .json, .png")
  return summary


def main():
  p = demo.argument_parser(__doc__, "workdirs/experiment", 200)
  p.add_argument("--seeds", type=int, default=3)
  args = p.parse_args()
  run(args.workdir, seeds=args.seeds, steps=args.steps, num_train=args.num_train,
      num_eval=args.num_eval, overrides=args.config_override)


if __name__ == "__main__":
  main()
