"""How sure a comparison is: confidence intervals for accuracies and their differences.

Every table that compares models prints these, and says "better"/"worse" only when the
interval of the difference excludes zero (``verdict``).

- ``wilson_interval``: a binomial proportion (an accuracy on n test examples);
- ``bootstrap_interval``: the mean of per-example values (percentile bootstrap), over one
  run [n] or several seeds [seeds, n];
- ``paired_difference``: two models scored on the *same* examples, optionally over several
  seeds each.

With several seeds the bootstrap is hierarchical (two-stage): each resample draws the
examples with replacement (the same draw for both models: the pairing removes the
per-example difficulty they share) and, for each model independently, its seeds with
replacement, and averages the chosen seeds. The interval then carries both sources of
variation: which test examples were drawn and which training runs. (With S seeds the
seed stage recovers (S-1)/S of the seed variance: with 3 seeds the interval is still
somewhat too narrow; more seeds is the remedy.) Seeds are resampled independently per model
because runs of two models that share a seed number are not paired observations.
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


def _as_runs(values, name: str) -> np.ndarray:
  """[n] or [seeds, n] -> float64 [seeds, n] (n > 0)."""
  x = np.asarray(values, np.float64)
  if x.ndim == 1:
    x = x[None]
  if x.ndim != 2 or not x.shape[0] or not x.shape[1]:
    raise ValueError(f"{name} needs per-example values of shape [n] or [seeds, n], got "
                     f"{np.shape(values)}")
  return x


def bootstrap_means(groups: Sequence[np.ndarray], *, num_samples: int = 10_000,
                    seed: int = 0, chunk: int = 256) -> np.ndarray:
  """[num_samples, len(groups)] resampled means of ``groups`` (each [seeds, n], same n).

  Per resample: one draw of n examples with replacement, shared by all groups; per group
  with more than one seed, a draw of its seeds with replacement; the value is the mean over
  the drawn seeds and examples. Drawn in chunks of ``chunk`` resamples (memory ~ chunk x n).
  """
  n = groups[0].shape[1]
  rng = np.random.default_rng(seed)
  out = np.empty((num_samples, len(groups)))
  for start in range(0, num_samples, chunk):
    m = min(chunk, num_samples - start)
    examples = rng.integers(0, n, size=(m, n))
    for g, x in enumerate(groups):
      if x.shape[0] == 1:
        per_example = np.broadcast_to(x, (m, n))
      else:  # weights of the drawn seeds: counts / S
        drawn = rng.integers(0, x.shape[0], size=(m, x.shape[0]))
        weights = (drawn[:, :, None] == np.arange(x.shape[0])).sum(axis=1)
        per_example = weights @ x / x.shape[0]
      out[start:start + m, g] = np.take_along_axis(per_example, examples, axis=1).mean(axis=1)
  return out


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
  _z(confidence)  # validates
  tail = 100 * (1 - confidence) / 2
  lo, hi = np.percentile(samples, [tail, 100 - tail])
  return float(lo), float(hi)


def bootstrap_interval(values, *, num_samples: int = 10_000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
  """Percentile-bootstrap interval of the mean of ``values`` (e.g. 0/1 correctness): shape
  [n] (one run) or [seeds, n] (hierarchical: examples and seeds resampled)."""
  x = _as_runs(values, "bootstrap_interval")
  return _percentiles(bootstrap_means([x], num_samples=num_samples, seed=seed)[:, 0],
                      confidence)


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
  or [seeds, n] (several runs of each model; the number of seeds may differ). Examples are
  resampled with replacement, the same indices for both models; with several seeds, each
  model's seeds are resampled too (hierarchical bootstrap, see the module docstring).
  """
  a2, b2 = _as_runs(a, "paired_difference"), _as_runs(b, "paired_difference")
  if a2.shape[1] != b2.shape[1]:
    raise ValueError(f"paired_difference needs the same examples: shapes {np.shape(a)} and "
                     f"{np.shape(b)}")
  means = bootstrap_means([a2, b2], num_samples=num_samples, seed=seed)
  lo, hi = _percentiles(means[:, 0] - means[:, 1], confidence)
  return Difference(float(a2.mean() - b2.mean()), lo, hi, confidence, a2.shape[1],
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
