r"""Token-length distribution of description files: the data that decides the fast text length.

  python -m focusclip_tools.text_lengths --files=/data/mpii/descriptions/gpt-4-0613/train.json \
      [--tokenizer=bert-base-uncased] [--json=OUT]

The paper pads every description to 512 tokens and mean-pools over the padding. The fast text
mode (``config.model.text.pooling='mean_masked'`` with a shorter
``config.model.text.max_length``) is exact for every text that fits; this reports, per
candidate length, the fraction of descriptions that would be truncated, and recommends the
smallest multiple of 32 that keeps at least ``--coverage`` of them whole.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np

from focusclip_jax import jsonio
from input_pipeline import tokenizer as tokenizer_lib
from input_pipeline.mpii_pose_descriptions.records import load_records

CANDIDATES = (64, 96, 128, 160, 192, 256, 320, 384, 448, 512)


def token_lengths(texts: Sequence[str], tokenizer: str) -> np.ndarray:
  """Tokens per text including [CLS] and [SEP], without truncation."""
  return tokenizer_lib.get_tokenizer(tokenizer, 512).lengths(texts)


def summarize(lengths: np.ndarray, coverage: float = 0.99) -> dict:
  lengths = np.asarray(lengths)
  out = {"num_texts": int(len(lengths)), "mean": float(lengths.mean()),
         "max": int(lengths.max())}
  for p in (50, 90, 95, 99):
    out[f"p{p}"] = float(np.percentile(lengths, p))
  out["truncated_fraction"] = {L: float(np.mean(lengths > L)) for L in CANDIDATES}
  # The smallest length that keeps ceil(coverage * n) texts whole.
  need = float(np.sort(lengths)[max(int(np.ceil(coverage * len(lengths))) - 1, 0)])
  out["recommended_max_length"] = int(min(512, 32 * np.ceil(need / 32)))
  out["coverage"] = coverage
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--files", nargs="+", required=True, help="description JSON files")
  p.add_argument("--tokenizer", default="bert-base-uncased")
  p.add_argument("--coverage", type=float, default=0.99)
  p.add_argument("--json", default=None)
  args = p.parse_args()
  texts = []
  for f in args.files:
    texts += [r.get("description") for r in load_records(f)
              if isinstance(r.get("description"), str) and r.get("description").strip()]
  s = summarize(token_lengths(texts, args.tokenizer), args.coverage)
  if args.json:
    jsonio.write_json(s, args.json)
  print(f"{s['num_texts']} descriptions: mean {s['mean']:.0f} tokens, p50 {s['p50']:.0f}, "
        f"p90 {s['p90']:.0f}, p99 {s['p99']:.0f}, max {s['max']}")
  for L, frac in s["truncated_fraction"].items():
    print(f"  max_length {L:>3d}: {100 * frac:5.1f}% truncated")
  print(f"recommended max_length (>= {100 * args.coverage:.0f}% whole): "
        f"{s['recommended_max_length']}")


if __name__ == "__main__":
  main()
