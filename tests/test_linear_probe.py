"""The linear probe's logistic regression: its gradient, separable and random features."""

import json

import flax.linen as nn
import numpy as np
import pytest
from PIL import Image
from scipy import optimize

from focusclip_jax import evaluation
from focusclip_jax import linear_probe
from focusclip_jax import results
from focusclip_jax import zeroshot
from tests.helpers import tiny


def _clusters(n, d, c, spread, seed):
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(c, d)) * 3
  y = rng.integers(0, c, size=n)
  return (centers[y] + spread * rng.normal(size=(n, d))).astype(np.float32), y


def test_fit_reaches_the_optimum_of_the_penalised_loss():
  """At the returned parameters the gradient of the objective (by finite differences of an
  independent numpy implementation) vanishes."""
  x, y = _clusters(60, 5, 3, 2.0, seed=0)
  l2 = 0.1
  w, b = linear_probe.fit(x, y, 3, l2)

  def objective(theta):
    w_, b_ = theta[:15].reshape(5, 3), theta[15:]
    logits = x.astype(np.float64) @ w_ + b_
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return -np.mean(np.log(p[np.arange(60), y])) + 0.5 * l2 * np.sum(w_ * w_)

  theta = np.concatenate([w.ravel(), b]).astype(np.float64)
  grad = optimize.approx_fprime(theta, objective, 1e-6)
  assert np.abs(grad).max() < 1e-3
  assert objective(theta) < objective(np.zeros_like(theta))


def test_separable_features_are_classified_and_random_ones_are_at_chance():
  x, y = _clusters(400, 16, 5, 0.5, seed=1)
  r = linear_probe.evaluate(x[:300], y[:300], x[300:], y[300:], 5)
  assert r["acc1"] > 95 and r["mean_per_class_recall"] > 95
  assert r["num_train"] == 300 and r["num_test"] == 100 and set(r["heldout_acc1"]) == {
      str(l2) for l2 in linear_probe.L2_GRID}

  rng = np.random.default_rng(2)
  accs = []
  for seed in range(5):
    x = rng.normal(size=(300, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=300)
    accs.append(linear_probe.evaluate(x[:200], y[:200], x[200:], y[200:], 4, seed=seed)["acc1"])
  assert abs(np.mean(accs) - 25) < 7  # chance is 25%


def test_too_little_data_is_an_error():
  with pytest.raises(ValueError, match="at least 2 training examples"):
    linear_probe.select_l2(np.zeros((1, 3)), np.zeros(1, int), 2)


class _MeanColor(nn.Module):
  """Image embedding = mean RGB (text is not used by the probe)."""

  @nn.compact
  def __call__(self, x):
    return x

  def encode_image(self, images):
    return images.mean(axis=(1, 2))


def test_probe_of_an_evaluation_dataset_in_its_layout(tmp_path):
  """Stanford 40 layout with train and test splits, one hue per class: the probe separates
  them; a dataset without splits (LAGENDA) is skipped with its reason; results.md and the
  JSON carry the probe next to zero-shot."""
  root = tmp_path / "stanford40"
  colors = {"applauding": (200, 40, 40), "riding_a_horse": (40, 200, 40),
            "watching_TV": (40, 40, 200)}
  (root / "ImageSplits").mkdir(parents=True)
  (root / "JPEGImages").mkdir()
  (root / "ImageSplits" / "actions.txt").write_text(
      "action_name\tnumber_of_images\n" + "".join(f"{c}\t6\n" for c in colors))
  rng = np.random.default_rng(0)
  splits = {"train": [], "test": []}
  for c, rgb in colors.items():
    for i in range(6):
      name = f"{c}_{i + 1:03d}.jpg"
      shade = rng.uniform(0.6, 1.0)
      Image.new("RGB", (12, 10), tuple(int(v * shade) for v in rgb)).save(root / "JPEGImages" / name)
      splits["train" if i < 4 else "test"].append(name)
  for split, names in splits.items():
    (root / "ImageSplits" / f"{split}.txt").write_text("\n".join(names) + "\n")
  (tmp_path / "lagenda").mkdir()
  config = tiny(**{"model.image.image_size": 8, "eval.batch_size": 8,
                   "eval.data_root": str(tmp_path), "eval.tasks": ("stanford40", "lagenda_body"),
                   "eval.linear_probe_l2_grid": (1e-4, 1e-2)})
  embedder = zeroshot.Embedder(_MeanColor(), {}, config, tokenizer=object())
  out = evaluation.run_linear_probe(embedder, config, output_dir=str(tmp_path / "out"))
  s40 = out["stanford40"]
  assert s40["acc1"] == 100.0 and s40["mean_per_class_recall"] == 100.0
  assert (s40["num_train"], s40["num_test"], s40["splits"]) == (12, 6, ["train", "test"])
  assert s40["l2"] in (1e-4, 1e-2) and s40["chance"] == pytest.approx(100 / 3)
  assert out["lagenda_body"] == {"skipped": "the dataset has no train/test split"}
  assert json.loads((tmp_path / "out" / "linear_probe.json").read_text()) == json.loads(
      json.dumps(out))
  zs = {"stanford40": {"score": 50.0, "chance": 7.5}}
  results.write_summary(zs, str(tmp_path / "out"), "focusclip", "ckpt", probe=out)
  md = (tmp_path / "out" / "results.md").read_text()
  assert "## Linear probe" in md and "| stanford40 | 50.00 | 100.00 | 100.00 |" in md
  assert "| lagenda_body | – | skipped: the dataset has no train/test split |" in md
  assert json.loads((tmp_path / "out" / "summary.json").read_text())["linear_probe"][
      "stanford40"]["acc1"] == 100.0
