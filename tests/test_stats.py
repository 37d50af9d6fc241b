"""Confidence intervals and verdicts (focusclip_jax/stats.py) on constructed cases."""

import numpy as np
import pytest

from focusclip_jax import stats


def test_wilson_interval_hand_computed():
  # x = 0, n = 10: upper = 2 (z^2 / 2n) / (1 + z^2 / n) with z = 1.959964.
  z = 1.959964
  lo, hi = stats.wilson_interval(0, 10)
  assert lo == pytest.approx(0.0, abs=1e-12)
  assert hi == pytest.approx((z * z / 10) / (1 + z * z / 10), abs=1e-6)  # 0.2775
  # p = 0.5, n = 100: centre 0.5, half-width z sqrt(1/400 + z^2/40000) / (1 + z^2/100).
  lo, hi = stats.wilson_interval(50, 100)
  half = z * np.sqrt(0.25 / 100 + z * z / 40000) / (1 + z * z / 100)
  assert (lo, hi) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-6)  # (0.4038, 0.5962)
  assert stats.wilson_interval(50, 100, confidence=0.99)[0] < lo  # wider at 99%
  with pytest.raises(ValueError):
    stats.wilson_interval(11, 10)


def test_bootstrap_interval_agrees_with_wilson_on_a_proportion():
  x = np.zeros(400)
  x[:130] = 1
  lo, hi = stats.bootstrap_interval(x, seed=1)
  wlo, whi = stats.wilson_interval(130, 400)
  assert lo < 130 / 400 < hi
  assert abs(lo - wlo) < 0.01 and abs(hi - whi) < 0.01


def test_a_clear_difference_is_significant_and_called_better():
  rng = np.random.default_rng(0)
  b = (rng.random(300) < 0.5).astype(float)
  a = b.copy()
  a[rng.choice(np.flatnonzero(b == 0), 60, replace=False)] = 1  # a fixes 60 of b's errors
  d = stats.paired_difference(a, b)
  assert d.diff == pytest.approx(60 / 300)
  assert d.lo > 0.1 and d.significant
  assert stats.verdict(d, "A", "B").startswith("A is better than B (+20.0 points")
  assert stats.verdict(stats.paired_difference(b, a), "B", "A").startswith("B is worse than A")


def test_no_difference_gives_no_verdict():
  rng = np.random.default_rng(1)
  a = (rng.random(200) < 0.6).astype(float)
  b = a.copy()  # b gets 10 of a's hits wrong and 10 of a's misses right: the same accuracy
  b[rng.choice(np.flatnonzero(a == 1), 10, replace=False)] = 0
  b[rng.choice(np.flatnonzero(a == 0), 10, replace=False)] = 1
  d = stats.paired_difference(a, b)
  assert d.diff == 0.0 and d.lo < 0 < d.hi and not d.significant
  text = stats.verdict(d, "A", "B")
  assert text.startswith("no significant difference") and "better" not in text


def test_paired_interval_covers_a_null_difference_about_95_percent_of_the_time():
  rng = np.random.default_rng(2)
  misses = 0
  trials = 200
  for t in range(trials):
    p = rng.uniform(0.3, 0.7, size=150)  # per-example difficulty shared by both models
    a = (rng.random(150) < p).astype(float)
    b = (rng.random(150) < p).astype(float)
    misses += stats.paired_difference(a, b, num_samples=1000, seed=t).significant
  assert 0.01 * trials <= misses <= 0.10 * trials


def test_several_seeds_are_averaged_per_example():
  a = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]], float)  # 3 seeds
  b = np.array([[0, 1, 0, 0], [0, 1, 0, 1]], float)  # 2 seeds
  d = stats.paired_difference(a, b, num_samples=500)
  assert d.diff == pytest.approx(a.mean() - b.mean())
  assert d.num_seeds == (3, 2) and d.num_examples == 4
  with pytest.raises(ValueError, match="same examples"):
    stats.paired_difference(np.ones(4), np.ones(5))


def test_format_interval():
  assert stats.format_interval(0.625, 0.556, 0.69) == "62.5 [55.6, 69.0]"


def test_seed_spread_widens_the_interval_and_keeps_false_verdicts_rare():
  """Two equally good models whose runs scatter (a per-run accuracy shift, sd 8 points, 3 seeds
  each): resampling only the examples calls a difference in ~38% of trials; the hierarchical
  bootstrap (seeds resampled too) in ~8% (600-trial simulation; nominal 5%: with 3 seeds the
  seed stage recovers only 2/3 of the seed variance)."""
  rng = np.random.default_rng(0)
  n, seeds, trials = 150, 3, 200
  hierarchical = examples_only = 0
  for t in range(trials):
    p = rng.uniform(0.3, 0.7, size=n)
    runs = lambda: (rng.random((seeds, n)) < np.clip(p + rng.normal(0, 0.08, (seeds, 1)), 0, 1))
    a, b = runs().astype(float), runs().astype(float)
    hierarchical += stats.paired_difference(a, b, num_samples=1000, seed=t).significant
    # The examples-only interval: the seed-averaged per-example values as one run each.
    examples_only += stats.paired_difference(a.mean(0), b.mean(0), num_samples=1000,
                                             seed=t).significant
  assert examples_only >= 0.25 * trials
  assert hierarchical <= 0.14 * trials


def test_hierarchical_interval_of_one_model():
  """Seeds that disagree widen a model's interval; identical seeds give the one-run interval's
  width; one seed is the plain bootstrap."""
  rng = np.random.default_rng(3)
  x = (rng.random(300) < 0.5).astype(float)
  one = stats.bootstrap_interval(x)
  same = stats.bootstrap_interval(np.stack([x, x, x]))
  assert abs((same[1] - same[0]) - (one[1] - one[0])) < 0.01
  spread = np.stack([x, np.roll(x, 1) * 0, np.ones_like(x)])  # runs at ~50%, 0% and 100%
  lo, hi = stats.bootstrap_interval(spread)
  assert hi - lo > 0.3 and lo < spread.mean() < hi
  with pytest.raises(ValueError, match=r"\[seeds, n\]"):
    stats.bootstrap_interval(np.ones((2, 3, 4)))
