"""Evaluation metrics against hand-computed cases."""

import numpy as np
import pytest

from focusclip_jax import metrics

# 4 examples, 4 classes.
SCORES = np.array([
    [0.9, 0.5, 0.1, 0.0],  # label 0: top-1 correct
    [0.2, 0.1, 0.8, 0.7],  # label 3: rank 2 -> top-3 correct, top-1 wrong
    [0.1, 0.2, 0.3, 0.4],  # label 0: rank 4 -> wrong at top-3
    [0.5, 0.5, 0.5, 0.5],  # label 1: ties -> order 0, 1, 2 -> top-1 wrong, top-3 correct
])
LABELS = np.array([0, 3, 0, 1])


def test_topk_accuracy_hand_computed():
  assert metrics.topk_accuracy(SCORES, LABELS, 1) == pytest.approx(1 / 4)
  assert metrics.topk_accuracy(SCORES, LABELS, 2) == pytest.approx(3 / 4)  # ex 3: classes 0,1
  assert metrics.topk_accuracy(SCORES, LABELS, 3) == pytest.approx(3 / 4)
  assert metrics.topk_accuracy(SCORES, LABELS, 4) == 1.0
  np.testing.assert_array_equal(metrics.topk_predictions(SCORES, 3)[3], [0, 1, 2])


def test_mask_ignores_padding():
  mask = np.array([True, True, False, True])
  assert metrics.topk_accuracy(SCORES, LABELS, 1, mask) == pytest.approx(1 / 3)
  assert metrics.topk_accuracy(SCORES, LABELS, 3, mask) == 1.0
  padded = np.concatenate([SCORES, np.zeros((2, 4))])
  labels = np.concatenate([LABELS, [0, 0]])
  m = np.array([True] * 4 + [False] * 2)
  assert metrics.topk_accuracy(padded, labels, 1, m) == pytest.approx(1 / 4)


def test_mean_per_class_recall():
  # class 0: examples 0 (hit), 2 (miss) -> 0.5; class 3: miss -> 0; class 1: miss -> 0
  assert metrics.mean_per_class_recall(SCORES, LABELS, 4, k=1) == pytest.approx(0.5 / 3)
  r = metrics.per_class_recall(SCORES, LABELS, 4, k=3)
  np.testing.assert_allclose(r, [0.5, 1.0, np.nan, 1.0])


def test_any_label_accuracy():
  label_sets = [(0,), (1, 3), (2, 1), (3,)]
  # top-1 predictions: 0, 2, 3, 0 -> hits: yes, no, no, no
  assert metrics.any_label_topk_accuracy(SCORES, label_sets, 1) == pytest.approx(1 / 4)
  # top-2: {0,1}, {2,3}, {3,2}, {0,1} -> yes, yes, yes, no
  assert metrics.any_label_topk_accuracy(SCORES, label_sets, 2) == pytest.approx(3 / 4)


def test_confusion_matrix_and_chance():
  cm = metrics.confusion_matrix(SCORES, LABELS, 4)
  assert cm[0, 0] == 1 and cm[3, 2] == 1 and cm[0, 3] == 1 and cm[1, 0] == 1
  assert cm.sum() == 4
  assert metrics.chance_topk(40, 3) == pytest.approx(0.075)
  assert metrics.chance_topk(2, 3) == 1.0


def test_retrieval_recall():
  sim = np.array([[0.9, 0.1, 0.0],
                  [0.8, 0.7, 0.1],   # image 1: its text ranks 2nd
                  [0.0, 0.1, 0.5]])
  r = metrics.retrieval_recall(sim, ks=(1, 2))
  assert r["image_to_text_R@1"] == pytest.approx(2 / 3)
  assert r["image_to_text_R@2"] == 1.0
  # text 0: images by score 0.9, 0.8 -> rank 1; text 1: 0.7 best -> rank 1; text 2: rank 1
  assert r["text_to_image_R@1"] == 1.0
  assert r["image_to_text_mean_rank"] == pytest.approx(4 / 3)
