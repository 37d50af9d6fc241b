"""How sure a comparison is: confidence intervals for accuracies and their differences.

Every table that compares models prints these, and says "better"/"worse" only when the
interval of the difference excludes zero (``verdict``).

- ``wilson_interval``: a binomial proportion (an accuracy on n test examples);
- ``bootstrap_interval``: the mean of per-example values (percentile bootstrap);
- ``paired_difference``: two models scored on the *same* examples, optionally over several
  seeds each: examples are resampled together (the pairing removes the per-example
  difficulty that both models share), seeds are averaged inside each resample.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Sequence

import numpy as np


def _z(confidence: float) -> float:
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence {confidence} must be in (0, 1)")
  return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
  """Wilson score interval of a proportion successes / n (fractions in [0, 1])."""
  if n <= 0:
    raise ValueError("wilson_interval needs n > 0")
  if not 0 <= successes <= n:
    raise ValueError(f"successes {successes} not in [0, {n}]")
  z = _z(confidence)
  p = successes / n
  denom = 1 + z * z / n
  centre = (p + z * z / (2 * n)) / denom
  half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
  return max(0.0, centre - half), min(1.0, centre + half)


def _resample_indices(n: int, num_samples: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return rng.integers(0, n, size=(num_samples, n))


def bootstrap_interval(values: Sequence[float], *, num_samples: int = 10_000,
                       confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
  """Percentile-bootstrap interval of the mean of ``values`` (e.g. 0/1 correctness)."""
  x = np.asarray(values, np.float64)
  if x.ndim != 1 or not len(x):
    raise ValueError("bootstrap_interval needs a non-empty 1-D array")
  means = x[_resample_indices(len(x), num_samples, seed)].mean(axis=1)
  tail = 100 * (1 - confidence) / 2
  lo, hi = np.percentile(means, [tail, 100 - tail])
  return float(lo), float(hi)


@dataclasses.dataclass(frozen=True)
class Difference:
  """mean(a) - mean(b) over the same examples, with its bootstrap interval."""

  diff: float
  lo: float
  hi: float
  confidence: float
  num_examples: int
  num_seeds: tuple[int, int]

  @property
  def significant(self) -> bool:
    return self.lo > 0 or self.hi < 0


def paired_difference(a, b, *, num_samples: int = 10_000, confidence: float = 0.95,
                      seed: int = 0) -> Difference:
  """Paired bootstrap of mean(a) - mean(b).

  ``a``, ``b``: per-example values of two models on the same examples, shape [n] (one run)
  or [seeds, n] (several runs of each model; seeds are averaged per example, and the number
  of seeds may differ between the two). Examples are resampled with replacement, the same
  indices for both models.
  """
  a2, b2 = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
  if a2.ndim != 2 or b2.ndim != 2 or a2.shape[1] != b2.shape[1] or not a2.shape[1]:
    raise ValueError(f"paired_difference needs the same examples: shapes {np.shape(a)} and "
                     f"{np.shape(b)}")
  per_example = a2.mean(axis=0) - b2.mean(axis=0)
  n = len(per_example)
  diffs = per_example[_resample_indices(n, num_samples, seed)].mean(axis=1)
  tail = 100 * (1 - confidence) / 2
  lo, hi = np.percentile(diffs, [tail, 100 - tail])
  return Difference(float(per_example.mean()), float(lo), float(hi), confidence, n,
                    (a2.shape[0], b2.shape[0]))


def verdict(d: Difference, name_a: str, name_b: str, scale: float = 100.0) -> str:
  """One sentence; "better"/"worse" only when the interval excludes zero."""
  pct = int(round(100 * d.confidence))
  ci = (f"{scale * d.diff:+.1f} points, {pct}% CI [{scale * d.lo:+.1f}, {scale * d.hi:+.1f}]"
        f" over {d.num_examples} examples")
  if d.lo > 0:
    return f"{name_a} is better than {name_b} ({ci})."
  if d.hi < 0:
    return f"{name_a} is worse than {name_b} ({ci})."
  return f"no significant difference between {name_a} and {name_b} ({ci})."


def format_interval(value: float, lo: float, hi: float, scale: float = 100.0) -> str:
  """'62.5 [55.6, 69.0]' for an accuracy and its interval (fractions scaled to %)."""
  return f"{scale * value:.1f} [{scale * lo:.1f}, {scale * hi:.1f}]"
