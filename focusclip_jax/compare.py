r"""Two models (or two groups of seeds) compared on the same zero-shot test sets, with intervals.

  python -m focusclip_jax.compare RUN_A RUN_B [--names=FocusCLIP,CLIP] [--out=DIR]

RUN_*: an evaluation output folder (``<workdir>/eval/<checkpoint>``, written by
``--mode=eval``), or several separated by commas (one per seed). Writes ``comparison.md``
and ``comparison.json`` (to --out, default RUN_A): per task each model's score with its 95%
interval, the paired difference with its 95% bootstrap interval, and a verdict that says
"better"/"worse" only when that interval excludes zero (focusclip_jax/stats.py).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from typing import Mapping, Sequence

import numpy as np

from focusclip_jax import stats


def load_hits(run_dir: str) -> dict[str, dict]:
  """{task: {"hits": int8 [N], "score": %, "k": k}} of one evaluation output folder."""
  out = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "*.json"))):
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
    if record.get("task") != "zeroshot_classification":
      continue
    if "example_hits" not in record:
      raise ValueError(f"{path} has no per-example results ('example_hits'): it was written "
                       "by an older version; evaluate the checkpoint again (--mode=eval)")
    out[record["dataset"]] = {"hits": np.asarray(record["example_hits"], np.int8),
                              "score": record["metrics"]["score"], "k": record["k"]}
  if not out:
    raise FileNotFoundError(f"No zero-shot results (<dataset>.json) in {run_dir}: pass the "
                            "folder --mode=eval wrote, <workdir>/eval/<checkpoint>")
  return out


def compare_groups(groups: Mapping[str, Sequence[Mapping[str, dict]]], *,
                   num_samples: int = 10_000, seed: int = 0) -> dict:
  """``groups``: {name: [load_hits() of each seed]} for exactly two names.

  Returns {"names", "tasks": {task: {name: {mean, std, seeds, ci95}, "difference": {...},
  "verdict": str}}} over the tasks all runs share. Per model: the mean score over seeds,
  their std, and the bootstrap interval of the seed-averaged accuracy; the difference is
  the paired bootstrap over examples. With several seeds both intervals resample the seeds
  too (hierarchical bootstrap, focusclip_jax/stats.py), so they carry the run-to-run spread.
  """
  if len(groups) != 2:
    raise ValueError(f"compare_groups needs two models, got {list(groups)}")
  (name_a, runs_a), (name_b, runs_b) = groups.items()
  tasks = sorted(set.intersection(*(set(r) for r in (*runs_a, *runs_b))))
  if not tasks:
    raise ValueError("the runs share no zero-shot task")
  out = {"names": [name_a, name_b], "tasks": {}}
  for task in tasks:
    entry = {}
    stacked = {}
    for name, runs in ((name_a, runs_a), (name_b, runs_b)):
      sizes = {len(r[task]["hits"]) for r in runs}
      if len(sizes) != 1:
        raise ValueError(f"{task}: the runs of {name} were scored on different test sets "
                         f"({sorted(sizes)} examples)")
      hits = np.stack([r[task]["hits"] for r in runs]).astype(np.float64)
      stacked[name] = hits
      scores = 100 * hits.mean(axis=1)
      lo, hi = stats.bootstrap_interval(hits, num_samples=num_samples, seed=seed)
      entry[name] = {"mean": float(scores.mean()), "std": float(scores.std(ddof=1))
                     if len(scores) > 1 else 0.0, "seeds": scores.tolist(),
                     "ci95": [100 * lo, 100 * hi]}
    if stacked[name_a].shape[1] != stacked[name_b].shape[1]:
      raise ValueError(f"{task}: {name_a} and {name_b} were scored on different test sets")
    d = stats.paired_difference(stacked[name_a], stacked[name_b], num_samples=num_samples,
                                seed=seed)
    entry["difference"] = {"mean": 100 * d.diff, "ci95": [100 * d.lo, 100 * d.hi],
                           "significant": d.significant, "num_examples": d.num_examples}
    entry["verdict"] = stats.verdict(d, name_a, name_b)
    out["tasks"][task] = entry
  return out


def markdown(result: dict, labels: Mapping[str, str] | None = None) -> str:
  """The comparison as a markdown table (+ one verdict line per task)."""
  a, b = result["names"]
  seeds = max(len(result["tasks"][t][n]["seeds"]) for t in result["tasks"] for n in (a, b))
  cell = "mean ± std over seeds [95% CI]" if seeds > 1 else "[95% CI]"
  lines = [f"| task | {a} {cell} | {b} {cell} | {a} − {b} [95% paired CI] |",
           "|---|---:|---:|---:|"]
  for task, e in result["tasks"].items():
    def fmt(m):
      spread = f" ± {m['std']:.1f}" if len(m["seeds"]) > 1 else ""
      return f"{m['mean']:.1f}{spread} [{m['ci95'][0]:.1f}, {m['ci95'][1]:.1f}]"
    d = e["difference"]
    lines.append(f"| {(labels or {}).get(task, task)} | {fmt(e[a])} | {fmt(e[b])} | "
                 f"{d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}] |")
  lines.append("")
  lines += [f"- {(labels or {}).get(t, t)}: {e['verdict']}" for t, e in result["tasks"].items()]
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("run_a")
  p.add_argument("run_b")
  p.add_argument("--names", default="A,B", help="two comma-separated model names")
  p.add_argument("--out", default="", help="output folder (default: RUN_A's first folder)")
  args = p.parse_args(argv)
  names = args.names.split(",")
  if len(names) != 2:
    raise SystemExit(f"--names={args.names}: give two names separated by a comma")
  groups = {name: [load_hits(d) for d in run.split(",")]
            for name, run in zip(names, (args.run_a, args.run_b))}
  result = compare_groups(groups)
  out = args.out or args.run_a.split(",")[0]
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "comparison.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  table = markdown(result)
  with open(os.path.join(out, "comparison.md"), "w", encoding="utf-8") as f:
    f.write(f"# {names[0]} vs {names[1]}: zero-shot accuracy in %\n\n{table}\n")
  print(table)
  return result


if __name__ == "__main__":
  main()
