"""Evaluation metrics on host arrays (NumPy): zero-shot classification and retrieval.

All classification metrics take ``scores`` [N, C] (higher = more likely), integer ``labels``
[N] and an optional boolean ``mask`` [N] (False = padding, ignored). Ties in scores are
broken by the lower class index, as ``torch.topk`` / ``np.argsort(kind='stable')`` would.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _masked(scores, labels, mask):
  scores = np.asarray(scores)
  labels = np.asarray(labels)
  if mask is not None:
    mask = np.asarray(mask, bool)
    scores, labels = scores[mask], labels[mask]
  return scores, labels


def topk_predictions(scores, k: int) -> np.ndarray:
  """[N, k] class indices by decreasing score (stable: earlier class wins ties)."""
  scores = np.asarray(scores)
  k = min(k, scores.shape[1])
  return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def topk_hits(scores, labels, k: int = 1) -> np.ndarray:
  """[N] bool: the example's label is among its k best classes (what top-k accuracy averages;
  the per-example values paired comparisons resample, focusclip_jax/stats.py)."""
  scores, labels = np.asarray(scores), np.asarray(labels)
  return np.any(topk_predictions(scores, k) == labels[:, None], axis=1)


def topk_accuracy(scores, labels, k: int = 1, mask=None) -> float:
  """Fraction of examples whose label is among the k best classes (micro average)."""
  scores, labels = _masked(scores, labels, mask)
  if len(labels) == 0:
    return float("nan")
  top = topk_predictions(scores, k)
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


def any_label_topk_accuracy(scores, label_sets: Sequence[Sequence[int]], k: int = 1,
                            mask=None) -> float:
  """Multi-label: correct when any of the k best classes is one of the example's labels."""
  scores = np.asarray(scores)
  keep = np.ones(len(scores), bool) if mask is None else np.asarray(mask, bool)
  top = topk_predictions(scores, k)
  hits = [bool(set(t.tolist()) & set(ls)) for t, ls, m in zip(top, label_sets, keep) if m]
  return float(np.mean(hits)) if hits else float("nan")


def per_class_recall(scores, labels, num_classes: int, k: int = 1, mask=None) -> np.ndarray:
  """Top-k recall of every class ([C]; NaN for classes without examples)."""
  scores, labels = _masked(scores, labels, mask)
  top = topk_predictions(scores, k)
  hit = np.any(top == labels[:, None], axis=1)
  out = np.full(num_classes, np.nan)
  for c in range(num_classes):
    sel = labels == c
    if sel.any():
      out[c] = hit[sel].mean()
  return out


def mean_per_class_recall(scores, labels, num_classes: int, k: int = 1, mask=None) -> float:
  """Balanced accuracy: the mean over classes present of their top-k recall."""
  r = per_class_recall(scores, labels, num_classes, k, mask)
  return float(np.nanmean(r)) if np.any(~np.isnan(r)) else float("nan")


def confusion_matrix(scores, labels, num_classes: int, mask=None) -> np.ndarray:
  """[C, C] counts, rows = true class, columns = top-1 prediction."""
  scores, labels = _masked(scores, labels, mask)
  pred = topk_predictions(scores, 1)[:, 0]
  cm = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(cm, (labels, pred), 1)
  return cm


def chance_topk(num_classes: int, k: int) -> float:
  """Expected top-k accuracy of a random ranking."""
  return min(k, num_classes) / num_classes


def retrieval_recall(similarity, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
  """Paired retrieval (item i of A matches item i of B); similarity [N, N] = A x B.

  Returns image->text (rows) and text->image (columns) recall@k and mean/median rank,
  with A = images and B = texts.
  """
  sim = np.asarray(similarity)
  n = sim.shape[0]
  idx = np.arange(n)

  def ranks(s):  # rank (0 = best) of the matching item for every query row
    order = np.argsort(-s, axis=1, kind="stable")
    return np.argmax(order == idx[:, None], axis=1)

  out = {}
  for name, r in (("image_to_text", ranks(sim)), ("text_to_image", ranks(sim.T))):
    for k in ks:
      out[f"{name}_R@{k}"] = float(np.mean(r < k))
    out[f"{name}_mean_rank"] = float(np.mean(r) + 1)
    out[f"{name}_median_rank"] = float(np.median(r) + 1)
  return out
