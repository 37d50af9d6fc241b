"""PNG pictures: confusion matrices, example grids (image, heatmap, highlighted view, top-3
predictions) and training curves. Matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

import os
import textwrap
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=110, bbox_inches="tight")
  plt.close(fig)
  return path


def confusion_matrix_png(cm: np.ndarray, classnames: Sequence[str], path: str,
                         title: str = "") -> str:
  """Row-normalised confusion matrix (rows = true class); class names shown up to 60 classes."""
  cm = np.asarray(cm, np.float64)
  rows = cm.sum(1, keepdims=True)
  norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
  c = len(classnames)
  size = min(4 + 0.28 * c, 22)
  fig, ax = plt.subplots(figsize=(size, size))
  im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
  if c <= 60:
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(classnames, rotation=90, fontsize=7)
    ax.set_yticklabels(classnames, fontsize=7)
    if c <= 12:
      for i in range(c):
        for j in range(c):
          if cm[i, j]:
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
  ax.set_xlabel("predicted (top-1)")
  ax.set_ylabel("true")
  ax.set_title(title)
  fig.colorbar(im, ax=ax, fraction=0.046)
  return _save(fig, path)


def highlight(image: np.ndarray, heatmap: np.ndarray, alpha: float) -> np.ndarray:
  """The FocusCLIP view x * (alpha + (1 - alpha) * m), for display."""
  m = heatmap if heatmap.ndim == 3 else heatmap[..., None]
  return np.clip(image * (alpha + (1 - alpha) * m), 0, 1)


def example_grid_png(images: np.ndarray, path: str, *,
                     predictions: Sequence[Sequence[tuple[str, float]]] | None = None,
                     truths: Sequence[str] | None = None,
                     heatmaps: np.ndarray | None = None, alpha: float | None = None,
                     captions: Sequence[str] | None = None, title: str = "",
                     cols: int = 4) -> str:
  """A grid of examples: the image, and with heatmaps also the heatmap and highlighted view.

  images [N, H, W, 3] in [0, 1]; predictions per example as [(class, score), ...] (top-3);
  truths: the true class names (a prediction that matches is marked with *).
  """
  n = len(images)
  panels = 1 if heatmaps is None else 3
  cols = max(1, min(cols, n))
  rows = int(np.ceil(n / cols))
  fig, axes = plt.subplots(rows, cols * panels, figsize=(2.6 * cols * panels, 3.2 * rows),
                           squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i in range(n):
    r, c = divmod(i, cols)
    ax = axes[r, c * panels]
    ax.imshow(np.clip(images[i], 0, 1))
    lines = []
    if truths is not None:
      lines.append(f"true: {truths[i]}")
    if predictions is not None:
      for name, score in predictions[i]:
        mark = "*" if truths is not None and name == truths[i] else " "
        lines.append(f"{mark}{textwrap.shorten(name, 24)} {score:.2f}")
    if captions is not None:
      width = 30 if heatmaps is not None else 34
      lines += textwrap.wrap(textwrap.shorten(captions[i], 3 * width - 6), width)[:3]
    ax.set_title("\n".join(lines), fontsize=7, loc="left", family="monospace")
    if heatmaps is not None:
      hm = heatmaps[i][..., 0] if heatmaps[i].ndim == 3 else heatmaps[i]
      axes[r, c * panels + 1].imshow(hm, cmap="magma", vmin=0, vmax=1)
      axes[r, c * panels + 1].set_title("heatmap", fontsize=7)
      a = 0.5 if alpha is None else float(alpha)
      axes[r, c * panels + 2].imshow(highlight(images[i], hm, a))
      axes[r, c * panels + 2].set_title(f"highlighted (alpha={a:.2f})", fontsize=7)
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def curves_png(series: Mapping[str, Mapping[str, Mapping[int, float]]], path: str,
               title: str = "") -> str:
  """Training curves: {panel: {run name: {step: value}}}, one subplot per panel."""
  panels = list(series)
  fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
  for ax, panel in zip(axes[0], panels):
    for name, points in series[panel].items():
      steps = sorted(points)
      ax.plot(steps, [points[s] for s in steps], label=name,
              marker="o" if len(steps) <= 12 else None)  # few points: show them
    ax.set_title(panel)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
  if title:
    fig.suptitle(title, y=1.04)  # above the panel titles (the tight bbox grows to fit it)
  return _save(fig, path)


def seed_points_png(scores: Mapping[str, Mapping[str, Sequence[float]]], path: str, *,
                    title: str = "", chance: Mapping[str, float] | None = None) -> str:
  """One panel per task: each variant's per-seed scores (points), mean and ±1 std (bar).

  scores: {task: {variant: [score of each seed]}}.
  """
  tasks = list(scores)
  fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
  for ax, task in zip(axes[0], tasks):
    variants = list(scores[task])
    for x, v in enumerate(variants):
      s = np.asarray(scores[task][v], float)
      ax.scatter(np.full(len(s), x) + np.linspace(-0.08, 0.08, len(s)), s, s=18, alpha=0.7)
      ax.errorbar([x], [s.mean()], yerr=[s.std(ddof=1) if len(s) > 1 else 0.0], fmt="_",
                  color="k", markersize=18, capsize=6)
    if chance and task in chance:
      ax.axhline(chance[task], color="grey", linestyle=":", label="chance")
      ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels(variants, rotation=15, fontsize=8)
    ax.set_title(task, fontsize=10)
    ax.set_ylabel("accuracy (%)")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path)
