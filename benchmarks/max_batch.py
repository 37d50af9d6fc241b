"""The largest global batch that fits a TPU topology's HBM, by compiling ahead of time.

A batch that does not fit fails the compile (libtpu's RESOURCE_EXHAUSTED, whose message says
how many GiB of temporaries it needed); only the compile decides. A fitting compile of the
paper step takes minutes on a CPU host and a failing one a fraction of that, so the search
spends its compiles carefully (benchmarks/aot_compile.py --find_max_batch).
"""

from __future__ import annotations

import re
import time

GIB = 2**30


def oom_numbers(msg: str) -> dict:
  """The GiB in libtpu's OOM message: what the program's temporaries needed (the max-batch
  search interpolates between this and a fitting batch) and what libtpu leaves to the program
  (e.g. 30.75 of a v4's 32 GiB)."""
  out = {}
  m = re.search(r"required for HLO temporaries \(([0-9.]+)G\)", msg)
  if m:
    out["oom_temporaries_gib"] = float(m.group(1))
  m = re.search(r"exceeds available HBM \(([0-9.]+)G\)", msg)
  if m:
    out["available_hbm_gib"] = float(m.group(1))
  return out


def find_max_batch(compiler, start: int, results: list, *, max_compiles: int,
                   max_seconds: float, granularity: int | None = None,
                   log=lambda r: None) -> dict:
  """Largest fitting global batch (a multiple of ``granularity``, itself a multiple of the
  batch-axes' device count): grow until a batch does not fit, then bisect. ``compiler`` has
  ``divisor``, ``topology.hbm_gib`` and ``compile(batch) -> result dict`` (aot_compile.py).

  Growth: 2x the largest fitting batch, or up to 4x toward the batch where the affine fit of
  the two smallest compiled batches (libtpu's peak + code) reaches the HBM. Once bracketed:
  where both ends say how full the HBM is (a compiled batch: libtpu's peak + code over the
  HBM; a failed one: the temporaries libtpu's OOM message says it needed over what it says is
  available), the next batch is interpolated to where that reaches 1 (regula falsi); after an
  interpolated batch fits, one bisection step follows (near the HBM limit the TPU compiler
  rematerialises, per-chip memory flattens, and interpolation alone would creep up one
  expensive fitting compile at a time). Otherwise plain bisection. Only the compile decides
  what fits; a batch that cannot fit fails sooner than a fitting compile finishes.
  ``results`` may hold earlier compiles (--resume_json). Bounded by max_compiles (new
  compiles) and max_seconds.
  """
  d = compiler.divisor
  g = max(d, (granularity or d) // d * d)
  hbm = compiler.topology.hbm_gib * GIB
  t0 = time.time()
  done = {r["batch"]: r for r in results}
  new = [0]

  def used(r):  # bytes counted against the HBM (libtpu's peak + code), or None (failed)
    m = r.get("memory_bytes_per_chip")
    if m is None:
      return None
    return (m.get("libtpu_peak") or m["peak"]) + m["generated_code"]

  def fits(b):
    if b not in done:
      r = compiler.compile(b)
      results.append(r)
      done[b] = r
      new[0] += 1
      log(r)
    return bool(done[b]["fits"])

  def budget_left():
    return new[0] < max_compiles and time.time() - t0 < max_seconds

  def predicted():  # where the affine fit of the two smallest compiled batches meets the HBM
    pts = sorted((b, used(r)) for b, r in done.items() if used(r) is not None)[:2]
    if len(pts) < 2:
      return None
    (b1, m1), (b2, m2) = pts
    if m2 <= m1:
      return None
    return b1 + (hbm - m1) * (b2 - b1) / (m2 - m1)

  def down(x):
    return max(g, int(x) // g * g)

  def excess(r):  # how full the HBM is (> 1: does not fit), or None
    if used(r) is not None:  # compiled: libtpu's own peak (else the upper bound) + code
      return used(r) / hbm
    if "oom_temporaries_gib" in r and "available_hbm_gib" in r:  # libtpu's OOM message
      return r["oom_temporaries_gib"] / r["available_hbm_gib"]
    return None

  def crossing(lo_b, hi_b):  # batch where the affine fit of `excess` reaches 1, or None
    e_lo, e_hi = excess(done[lo_b]), excess(done[hi_b])
    if e_lo is None or e_hi is None or not e_lo < 1 < e_hi:
      return None
    return lo_b + (1 - e_lo) * (hi_b - lo_b) / (e_hi - e_lo)

  fit_b = [b for b, r in done.items() if r.get("fits")]
  fail_b = [b for b, r in done.items() if r.get("fits") is False]
  lo = max(fit_b, default=None)  # largest fitting batch
  hi = min((b for b in fail_b if lo is None or b > lo), default=None)  # smallest failing
  if lo is None and hi is None:
    b = down(start)
    if fits(b):
      lo = b
    else:
      hi = b
  while lo is None and hi > g and budget_left():  # halve until something fits
    b = down(hi // 2)
    if fits(b):
      lo = b
    else:
      hi = b
  while lo is not None and hi is None and budget_left():  # grow
    p = predicted()
    b = 2 * lo if p is None else max(2 * lo, min(down(p), 4 * lo))
    if fits(b):
      lo = b
    else:
      hi = b
  interpolate = True
  while lo is not None and hi is not None and hi - lo > g and budget_left():  # bracketed
    x = crossing(lo, hi) if interpolate else None
    b = down((lo + hi) / 2) if x is None else g * round(x / g)
    b = min(max(b, lo + g), hi - g)
    if fits(b):
      lo = b
      interpolate = x is None  # after an interpolated batch fits, bisect once
    else:
      hi = b
      interpolate = True
  exact = (lo is not None and hi is not None and hi - lo <= g) or (lo is None and hi == g)
  return {"max_batch": lo, "first_failing_batch": hi, "exact": bool(exact), "granularity": g,
          "new_compiles": new[0], "seconds": round(time.time() - t0, 1)}
