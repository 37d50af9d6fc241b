r"""This codebase's train step against the reference PyTorch stack's, side by side.

  python benchmarks/compare_reference.py                       # 3 pairs per setting, batch 4
  python benchmarks/compare_reference.py --pairs 4 --settings paper,fast --json /tmp/cmp.json

For each setting, runs ``benchmarks/train_step.py`` (A: JAX, this codebase) and
``benchmarks/torch_reference_step.py`` (B: the reference stack in PyTorch) alternately, A B A B
..., each in its own process on the same batch size, text length, real text lengths and
threads, each reporting its own steady-state median step, and prints per pair the speed ratio
(B's step time / A's: > 1 means this codebase is faster) and the median over pairs.

Settings:
  paper        the paper recipe: ViT-B/16 x 2 views + BERT-base at 512 tokens, mean over all
               positions, three NT-Xent terms, SGD; real text lengths uniform in [128, 512]
  paper_exact  the same, with exact attention over the real tokens on our side
               (model.text.attention_buckets = (128, 256, 384, 512)); texts of 197-327 tokens,
               which is what 150-250-word descriptions (docs/method.md §4.2) come to at ~1.3
               WordPiece tokens per word; the reference gets the same texts (it attends over
               all 512 positions, as it does)
  fast         128 tokens, masked mean (``train_step.py --fast``) against the reference at the
               same text settings; real lengths uniform in [32, 128]

Both sides use all cores of the machine (torch: ``--threads`` = os.cpu_count()); JAX reuses
its compiled step across pairs through a persistent compilation cache (compile time is not
part of the step time either way). Needs PyTorch (``pip install torch==2.13.0``, CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import side_by_side  # pylint: disable=wrong-import-position  # noqa: E402
from focusclip_jax import jsonio  # pylint: disable=wrong-import-position  # noqa: E402

BUCKETS = "(128, 256, 384, 512)"
# name -> (train_step.py arguments, torch_reference_step.py arguments)
SETTINGS = {
    "paper": (["--text_tokens", "128:512"],
              ["--seq_len", "512", "--text_pooling", "mean_all", "--text_tokens", "128:512"]),
    "paper_exact": (["--text_tokens", "197:327", "--set",
                     f"model.text.attention_buckets={BUCKETS}"],
                    ["--seq_len", "512", "--text_pooling", "mean_all",
                     "--text_tokens", "197:327"]),
    "fast": (["--fast", "--text_tokens", "32:128"],
             ["--seq_len", "128", "--text_pooling", "mean_masked", "--text_tokens", "32:128"]),
}


def compare(settings, pairs: int, batch: int, steps: int, warmup: int) -> dict:
  threads = os.cpu_count() or 1
  tmp = tempfile.mkdtemp(prefix="compare_reference_")
  env = dict(os.environ)
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tmp, "jax_cache"))
  common = ["--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
  results = {}
  for name in settings:
    jax_args, torch_args = SETTINGS[name]
    rows = []
    for i in range(pairs):
      a = side_by_side.run("train_step.py", [*common, *jax_args], env,
                           f"{tmp}/{name}_jax_{i}.json")
      b = side_by_side.run("torch_reference_step.py",
                           [*common, *torch_args, "--threads", str(threads)], env,
                           f"{tmp}/{name}_torch_{i}.json")
      rows.append({"jax_step_s": a["step_s_median"], "torch_step_s": b["step_s_median"],
                   "speed_ratio": b["step_s_median"] / a["step_s_median"],
                   "jax_text_kv_length": a.get("text_kv_length"),
                   "jax_matmul_precision": a.get("matmul_precision")})
      print(f"{name} pair {i + 1}: JAX {a['step_s_median']:.2f} s, PyTorch "
            f"{b['step_s_median']:.2f} s, speed ratio {rows[-1]['speed_ratio']:.2f}", flush=True)
    median = statistics.median(r["speed_ratio"] for r in rows)
    results[name] = {"pairs": rows, "median_speed_ratio": median, "jax_args": jax_args,
                     "torch_args": torch_args}
    print(f"{name}: median speed ratio {median:.2f} (PyTorch step time / JAX step time)",
          flush=True)
  return {"batch": batch, "steps": steps, "warmup": warmup, "threads": threads,
          "settings": results}


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--settings", default=",".join(SETTINGS),
                 help=f"comma-separated, from {list(SETTINGS)}")
  p.add_argument("--pairs", type=int, default=3)
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--warmup", type=int, default=1)
  p.add_argument("--json", default=None)
  args = p.parse_args()
  settings = side_by_side.pick(args.settings, SETTINGS, "settings")
  r = compare(settings, args.pairs, args.batch, args.steps, args.warmup)
  side_by_side.print_table("setting", r["settings"], "speed_ratio", "median_speed_ratio",
                           args.pairs)
  if args.json:
    jsonio.write_json(r, args.json)


if __name__ == "__main__":
  main()
