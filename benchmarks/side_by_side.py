"""Helpers of the alternating (A B A B ...) benchmarks: run one benchmark script in its own
process, pick named settings, print the per-pair table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script: str, args: list[str], env: dict, out: str) -> dict:
  """Runs ``benchmarks/<script> ... --json out`` and returns what it wrote."""
  cmd = [sys.executable, os.path.join(HERE, script), *args, "--json", out]
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
  with open(out) as f:
    return json.load(f)


def pick(names: str, known, what: str) -> list[str]:
  """A comma-separated list of names, each one of ``known`` (else exits with the choices)."""
  chosen = [n for n in names.split(",") if n]
  unknown = [n for n in chosen if n not in known]
  if unknown:
    raise SystemExit(f"unknown {what} {unknown}; choose from {list(known)}")
  return chosen


def print_table(first_column: str, results: dict, ratio: str, median: str, pairs: int) -> None:
  """One markdown row per setting: its per-pair ``ratio`` values and the ``median``."""
  print(f"\n| {first_column} | " + " | ".join(f"pair {i + 1}" for i in range(pairs))
        + " | median |")
  print("|---|" + "---:|" * (pairs + 1))
  for name, v in results.items():
    cells = " | ".join(f"{row[ratio]:.2f}" for row in v["pairs"])
    print(f"| {name} | {cells} | **{v[median]:.2f}** |")
