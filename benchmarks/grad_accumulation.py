r"""What contrastive-correct gradient accumulation costs: accumulated vs one-pass step, side by side.

  python benchmarks/grad_accumulation.py                  # demo config, batch 32, micro-batch 8
  python benchmarks/grad_accumulation.py --config configs/vitb16.py --batch 4 --micro 2 --pairs 2

For each variant of the accumulated step (``config.train.microbatch_size``, focusclip_jax/
grad_cache.py) -- the micro-batch loop as a ``lax.scan`` (``loop``, what bounds the memory) and
unrolled (``unrolled``, ``config.train.microbatch_unroll``) -- runs ``benchmarks/train_step.py``
for the one-pass step (A) and the accumulated step (B) alternately, A B A B ..., each in its
own process at the same global batch, and prints per pair the time ratio B / A (> 1: the
accumulated step is slower) and the median over pairs, plus each side's compiled memory per
device where the backend reports it. The largest batch that fits on a TPU with accumulation
comes from ``benchmarks/aot_compile.py --config_override train.microbatch_size=N``.
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

VARIANTS = {"loop": "False", "unrolled": "True"}  # -> config.train.microbatch_unroll


def _temporaries_gib(r: dict):
  """The compiled step's temporaries per device (GiB), where the backend reports them."""
  return (r.get("memory_per_device") or {}).get("temporaries_gib")


def compare(config: str, batch: int, micro: int, variants, pairs: int, steps: int, warmup: int,
            sets: list[str]) -> dict:
  tmp = tempfile.mkdtemp(prefix="grad_accumulation_")
  env = dict(os.environ)
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tmp, "jax_cache"))
  common = ["--config", config, "--batch", str(batch), "--steps", str(steps), "--warmup",
            str(warmup)] + [a for s in sets for a in ("--set", s)]
  results = {}
  for name in variants:
    rows = []
    for i in range(pairs):
      a = side_by_side.run("train_step.py", [*common, "--set", "train.microbatch_size=0"], env,
               f"{tmp}/{name}_plain_{i}.json")
      b = side_by_side.run("train_step.py", [*common, "--set", f"train.microbatch_size={micro}", "--set",
                                 f"train.microbatch_unroll={VARIANTS[name]}"], env,
               f"{tmp}/{name}_accumulated_{i}.json")
      rows.append({"plain_step_s": a["step_s_median"], "accumulated_step_s": b["step_s_median"],
                   "time_ratio": b["step_s_median"] / a["step_s_median"],
                   "plain_temporaries_gib": _temporaries_gib(a),
                   "accumulated_temporaries_gib": _temporaries_gib(b)})
      print(f"{name} pair {i + 1}: one pass {a['step_s_median']:.3f} s, accumulated "
            f"{b['step_s_median']:.3f} s, ratio {rows[-1]['time_ratio']:.2f}; temporaries "
            f"{rows[-1]['plain_temporaries_gib']} vs {rows[-1]['accumulated_temporaries_gib']} "
            "GiB per device", flush=True)
    median = statistics.median(r["time_ratio"] for r in rows)
    results[name] = {"pairs": rows, "median_time_ratio": median}
    print(f"{name}: median time ratio {median:.2f} (accumulated / one pass)", flush=True)
  return {"config": config, "batch": batch, "microbatch_size": micro, "steps": steps,
          "warmup": warmup, "sets": sets, "variants": results}


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", default="configs/demo.py")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--micro", type=int, default=8)
  p.add_argument("--variants", default=",".join(VARIANTS), help=f"from {list(VARIANTS)}")
  p.add_argument("--pairs", type=int, default=3)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--warmup", type=int, default=2)
  # The demo config caches its locked text tower's outputs; by default the tower runs in the
  # step here, so the second pass's cost includes it.
  p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                 help="config overrides for both sides (default: "
                      "train.cache_text_features=False)")
  p.add_argument("--json", default=None)
  args = p.parse_args()
  variants = side_by_side.pick(args.variants, VARIANTS, "variants")
  sets = ["train.cache_text_features=False"] if args.set is None else args.set
  r = compare(args.config, args.batch, args.micro, variants, args.pairs, args.steps,
              args.warmup, sets)
  side_by_side.print_table("accumulated step", r["variants"], "time_ratio",
                           "median_time_ratio", args.pairs)
  if args.json:
    jsonio.write_json(r, args.json)


if __name__ == "__main__":
  main()
