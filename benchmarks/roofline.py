"""Roofline step-time estimates from a compiled program's cost analysis (a lower bound).

  estimate = max(FLOPs / peak FLOP/s, bytes accessed / HBM bandwidth)   (per chip)

``bytes accessed`` is XLA's count of the bytes every HLO op reads and writes; when those
accesses cannot overlap the arithmetic, the larger of the two times bounds the step from
below. It is not a measurement: real steps add collectives, launch gaps and kernels that reach
neither peak. ``optimal_seconds`` (libtpu's own estimate) is reported where it is positive; for
whole training steps it has come out negative, so it is not used for the bound.

Used by ``benchmarks/aot_compile.py``; the chip numbers are public spec-sheet values.
"""

from __future__ import annotations

# gen -> (peak dense bf16 FLOP/s per chip, HBM bandwidth bytes/s per chip)
CHIP_SPECS = {
    "v4": (275e12, 1228e9),
    "v5e": (197e12, 819e9),
    "v5p": (459e12, 2765e9),
    "v6e": (918e12, 1640e9),
}
# The paper's run: 64 epochs of ≈14.6k MPII images at batch 32 (docs/method.md §5.1).
PAPER_STEPS = 29_000


def estimate(flops: float, bytes_accessed: float, gen: str, optimal_seconds: float | None = None,
             steps: int = PAPER_STEPS) -> dict:
  """Per-chip FLOPs and bytes of one step -> {compute_s, memory_s, roofline_s, bound,
  optimal_s, projected_training_s (``steps`` steps at the roofline)}."""
  peak, bandwidth = CHIP_SPECS[gen]
  compute_s, memory_s = flops / peak, bytes_accessed / bandwidth
  roofline_s = max(compute_s, memory_s)
  return {
      "peak_flops_per_s": peak, "hbm_bytes_per_s": bandwidth,
      "compute_s": compute_s, "memory_s": memory_s, "roofline_s": roofline_s,
      "bound": "memory" if memory_s > compute_s else "compute",
      "optimal_s": optimal_seconds if optimal_seconds and optimal_seconds > 0 else None,
      "projected_steps": steps, "projected_training_s": roofline_s * steps,
  }
