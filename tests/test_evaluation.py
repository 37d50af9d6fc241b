"""End to end: a tiny trained checkpoint evaluated zero-shot from the command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from focusclip_jax import train
from tests import test_eval_datasets_a as dsa
from tests import test_eval_datasets_b as dsb
from tests.helpers import REPO
from tests.helpers import read_scalars
from tests.helpers import tiny

# configs/tiny.py: 64 synthetic examples, so 64 // 4 = 16 validation image-text pairs.
NUM_VAL_PAIRS = 16
FER_CHANCE = 100 * 3 / 7  # top-3 of 7 classes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("eval_ckpt")
  train.train_and_evaluate(tiny(**{"train.num_steps": 2, "eval.evaluators": ()}), str(workdir))
  return workdir


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("zeroshot_data")
  dsa._stanford40(root / "stanford40")  # pylint: disable=protected-access
  dsb.make_fer2013(root / "fer2013")
  return root


@pytest.fixture(scope="module")
def evaluated(trained, data_root):
  """(stdout, output folder) of --mode=eval on the step-2 checkpoint."""
  r = subprocess.run(
      [sys.executable, str(REPO / "main.py"), "--config=configs/tiny.py", f"--workdir={trained}",
       "--mode=eval", f"--config.eval.data_root={data_root}",
       "--config.eval.tasks=('stanford40','fer2013')", "--config.eval.num_plot_examples=4"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-4000:]
  return r.stdout, trained / "eval" / "step_2"


def _multiple_of(value, unit):
  return abs(value / unit - round(value / unit)) < 1e-9


def test_eval_mode_writes_json_table_and_plots(evaluated):
  stdout, out = evaluated
  rec = json.loads((out / "stanford40.json").read_text())
  assert rec["dataset"] == "stanford40" and rec["k"] == 3
  assert rec["classnames"] == ["applauding", "riding_a_horse", "watching_TV"]
  assert rec["prompts"][2] == ["a photo of a person watching tv"]
  assert rec["protocol"]["paper_protocol"] is False
  # Three examples of three classes: every label is in the top 3, whatever the model.
  m = rec["metrics"]
  assert rec["num_examples"] == 3
  assert m["acc3"] == 100.0 and m["score"] == 100.0 and m["chance"] == 100.0
  # One example per class: top-1 accuracy and balanced accuracy are the same count / 3.
  assert _multiple_of(m["acc1"], 100 / 3) and m["mean_per_class_recall"] == pytest.approx(
      m["acc1"], abs=1e-9)
  assert rec["dataset_info"]["actions_header"] == "action_name number_of_images"
  assert f"{'stanford40':>16s}: acc@k 100.00%  (chance 100.00%)" in stdout

  fer = json.loads((out / "fer2013.json").read_text())
  assert fer["prompts"][0] == ["a photo of an angry looking face"]
  f = fer["metrics"]
  # The train split of the fixture: 3 usable rows (labels 0, 3, 2), one per class.
  assert fer["num_examples"] == 3 and fer["k"] == 3
  assert f["chance"] == pytest.approx(FER_CHANCE, abs=1e-9)
  assert _multiple_of(f["acc3"], 100 / 3) and _multiple_of(f["acc1"], 100 / 3)
  assert f["acc1"] <= f["acc3"] and f["score"] == f["acc3"]
  assert f["mean_per_class_recall"] == pytest.approx(f["acc1"], abs=1e-9)
  # Per-example top-k hits (for paired comparisons) average to the score; its Wilson interval.
  assert rec["example_hits"] == [1, 1, 1]
  assert len(fer["example_hits"]) == 3 and 100 * np.mean(fer["example_hits"]) == pytest.approx(
      f["score"])
  assert m["score_ci95_lo"] == pytest.approx(43.85, abs=0.01)  # Wilson, 3 of 3
  assert m["score_ci95_hi"] == pytest.approx(100.0)
  assert f"{'fer2013':>16s}: acc@k {f['acc3']:6.2f}%  (chance {FER_CHANCE:.2f}%)" in stdout

  summary = json.loads((out / "summary.json").read_text())
  assert summary["scores"] == {"stanford40": 100.0, "fer2013": f["acc3"]}
  assert summary["chance"]["stanford40"] == 100.0
  assert summary["chance"]["fer2013"] == pytest.approx(FER_CHANCE, abs=1e-9)
  table = (out / "results.md").read_text()
  assert "| focusclip |" in table and "| chance |" in table and "FocusCLIP (paper)" in table

  ret = json.loads((out / "retrieval.json").read_text())["metrics"]
  assert ret["num_pairs"] == NUM_VAL_PAIRS
  for side in ("image_to_text", "text_to_image"):
    r1, r5, r10 = (ret[f"{side}_R@{k}"] for k in (1, 5, 10))
    assert all(_multiple_of(v, 100 / NUM_VAL_PAIRS) for v in (r1, r5, r10)), ret
    assert 0 <= r1 <= r5 <= r10 <= 100
    # The mean rank of 16 ranks in 1..16 is a multiple of 1/16, the median of 1/2.
    assert 1 <= ret[f"{side}_mean_rank"] <= NUM_VAL_PAIRS
    assert _multiple_of(ret[f"{side}_mean_rank"], 1 / NUM_VAL_PAIRS)
    assert _multiple_of(ret[f"{side}_median_rank"], 0.5)
    assert f"{'retrieval':>16s}: {side}_R@1 = {r1:.2f}" in stdout
  for name in ("confusion_stanford40", "examples_stanford40", "confusion_fer2013",
               "examples_fer2013"):
    with Image.open(out / "plots" / f"{name}.png") as im:
      assert im.format == "PNG" and im.size[0] > 100 and np.asarray(im).std() > 0


def test_zeroshot_evaluator_during_training(data_root, evaluated, tmp_path):
  config = tiny(**{"train.num_steps": 2, "eval.evaluators": ("zeroshot", "retrieval"),
                   "eval.data_root": str(data_root), "eval.tasks": ("stanford40",)})
  train.train_and_evaluate(config, str(tmp_path))
  assert read_scalars(tmp_path, "zeroshot/stanford40") == {2: 100.0}  # 3 classes, top-3
  rec = json.loads((tmp_path / "eval" / "step_2" / "stanford40.json").read_text())
  assert rec["metrics"]["acc3"] == 100.0 and rec["num_examples"] == 3
  # Same config and seed as the `trained` checkpoint: the evaluator during training and
  # --mode=eval on the restored step-2 checkpoint must agree.
  ret = json.loads((evaluated[1] / "retrieval.json").read_text())["metrics"]
  for key in ("image_to_text_R@1", "image_to_text_R@5", "text_to_image_R@10"):
    assert read_scalars(tmp_path, f"retrieval/{key}") == {2: pytest.approx(ret[key], abs=1e-4)}


def test_missing_eval_data_fails_at_start(tmp_path):
  config = tiny(**{"eval.evaluators": ("zeroshot",), "eval.data_root": str(tmp_path),
                   "eval.tasks": ("fer2013",)})
  with pytest.raises(FileNotFoundError, match=r"fer2013 \("):
    train.train_and_evaluate(config, str(tmp_path / "w"))
