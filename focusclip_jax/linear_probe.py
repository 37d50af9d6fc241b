"""Linear probe on frozen embeddings: multinomial logistic regression on the host.

CLIP's second evaluation next to zero-shot (Radford et al. 2021, §3.2): the image tower is
frozen, a linear classifier is fitted on a dataset's train-split embeddings and scored on its
test split, so the number measures the representation rather than the prompts. As there, the
L2 penalty is chosen on a held-out part of the train split and the classifier is then refitted
on all of it. The fit is L-BFGS (scipy) on

  mean_i CE(softmax(W x_i + b), y_i) + l2 / 2 * ||W||^2        (the bias is not penalised)

with its exact gradient; it is convex, so the optimum does not depend on the start.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import optimize
from scipy import special

from focusclip_jax import metrics as metrics_lib

L2_GRID = tuple(float(10.0**e) for e in range(-6, 3))  # the penalties compared on held-out data


def fit(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float, max_iter: int = 1000
        ) -> tuple[np.ndarray, np.ndarray]:
  """Features [N, D], labels [N] in [0, num_classes) -> (W [D, C], b [C]) minimising the
  penalised cross-entropy above."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.int64)
  n, d = x.shape
  onehot = np.zeros((n, num_classes))
  onehot[np.arange(n), y] = 1.0

  def loss_and_grad(theta):
    w, b = theta[:d * num_classes].reshape(d, num_classes), theta[d * num_classes:]
    logits = x @ w + b
    logp = logits - special.logsumexp(logits, axis=1, keepdims=True)
    loss = -np.sum(onehot * logp) / n + 0.5 * l2 * np.sum(w * w)
    err = (np.exp(logp) - onehot) / n
    return loss, np.concatenate([(x.T @ err + l2 * w).ravel(), err.sum(axis=0)])

  theta0 = np.zeros(d * num_classes + num_classes)
  res = optimize.minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                          options={"maxiter": max_iter})
  return (res.x[:d * num_classes].reshape(d, num_classes).astype(np.float32),
          res.x[d * num_classes:].astype(np.float32))


def scores(params: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
  """Class scores (logits) [N, C] of a fitted probe."""
  w, b = params
  return np.asarray(x, np.float32) @ w + b


def select_l2(x: np.ndarray, y: np.ndarray, num_classes: int, grid: Sequence[float] = L2_GRID,
              val_fraction: float = 0.2, seed: int = 0) -> tuple[float, dict[float, float]]:
  """The penalty of ``grid`` with the best top-1 accuracy on a held-out ``val_fraction`` of
  (x, y) (ties: the stronger penalty); returns (l2, {l2: held-out accuracy})."""
  n = len(y)
  if n < 2:
    raise ValueError(f"a linear probe needs at least 2 training examples, got {n}")
  order = np.random.default_rng(seed).permutation(n)
  n_val = min(max(1, int(round(val_fraction * n))), n - 1)
  val, train = order[:n_val], order[n_val:]
  accuracy = {}
  for l2 in sorted(grid, reverse=True):
    params = fit(x[train], y[train], num_classes, l2)
    accuracy[l2] = metrics_lib.topk_accuracy(scores(params, x[val]), y[val], 1)
  best = max(accuracy, key=lambda l2: (accuracy[l2], l2))
  return best, accuracy


def evaluate(train_x, train_y, test_x, test_y, num_classes: int,
             grid: Sequence[float] = L2_GRID, val_fraction: float = 0.2, seed: int = 0) -> dict:
  """Selects the penalty on held-out train data, refits on all of train, scores test.

  Returns {acc1, mean_per_class_recall (both in %), l2, heldout_acc1 {l2: %}, num_train,
  num_test, chance (%, the largest class's share of test)}."""
  train_y, test_y = np.asarray(train_y), np.asarray(test_y)
  l2, heldout = select_l2(np.asarray(train_x), train_y, num_classes, grid, val_fraction, seed)
  params = fit(train_x, train_y, num_classes, l2)
  s = scores(params, test_x)
  counts = np.bincount(test_y, minlength=num_classes)
  return {
      "acc1": 100 * metrics_lib.topk_accuracy(s, test_y, 1),
      "mean_per_class_recall": 100 * metrics_lib.mean_per_class_recall(s, test_y,
                                                                       num_classes, 1),
      "l2": l2, "heldout_acc1": {str(k): 100 * v for k, v in heldout.items()},
      "num_train": int(len(train_y)), "num_test": int(len(test_y)),
      "chance": 100 * float(counts.max() / max(len(test_y), 1)),
  }
