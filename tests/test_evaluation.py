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
from tests.helpers import tiny


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


def test_eval_mode_writes_json_table_and_plots(trained, data_root):
  r = subprocess.run(
      [sys.executable, str(REPO / "main.py"), "--config=configs/tiny.py", f"--workdir={trained}",
       "--mode=eval", f"--config.eval.data_root={data_root}",
       "--config.eval.tasks=('stanford40','fer2013')", "--config.eval.num_plot_examples=4"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-4000:]
  assert "stanford40: acc@k" in r.stdout and "fer2013: acc@k" in r.stdout
  out = trained / "eval" / "step_2"
  rec = json.loads((out / "stanford40.json").read_text())
  assert rec["dataset"] == "stanford40" and rec["k"] == 3
  assert rec["classnames"] == ["applauding", "riding_a_horse", "watching_TV"]
  assert rec["prompts"][2] == ["a photo of a person watching tv"]
  assert rec["num_examples"] == 3 and 0 <= rec["metrics"]["acc3"] <= 100
  assert rec["protocol"]["paper_protocol"] is False
  fer = json.loads((out / "fer2013.json").read_text())
  assert fer["prompts"][0] == ["a photo of an angry looking face"]
  summary = json.loads((out / "summary.json").read_text())
  assert set(summary["scores"]) == {"stanford40", "fer2013"}
  assert summary["chance"]["stanford40"] == pytest.approx(100.0)  # 3 of 3 classes at k=3
  table = (out / "results.md").read_text()
  assert "| focusclip |" in table and "| chance |" in table and "FocusCLIP (paper)" in table
  retrieval = json.loads((out / "retrieval.json").read_text())
  assert retrieval["metrics"]["num_pairs"] > 0 and "image_to_text_R@1" in retrieval["metrics"]
  for name in ("confusion_stanford40", "examples_stanford40", "confusion_fer2013",
               "examples_fer2013"):
    with Image.open(out / "plots" / f"{name}.png") as im:
      assert im.format == "PNG" and im.size[0] > 100 and np.asarray(im).std() > 0


def test_zeroshot_evaluator_during_training(data_root, tmp_path):
  from tests.helpers import read_scalars  # pylint: disable=g-import-not-at-top
  config = tiny(**{"train.num_steps": 2, "eval.evaluators": ("zeroshot", "retrieval"),
                   "eval.data_root": str(data_root), "eval.tasks": ("stanford40",)})
  train.train_and_evaluate(config, str(tmp_path))
  assert 2 in read_scalars(tmp_path, "zeroshot/stanford40")
  assert 2 in read_scalars(tmp_path, "retrieval/image_to_text_R@1")
  assert (tmp_path / "eval" / "step_2" / "stanford40.json").exists()


def test_missing_eval_data_fails_at_start(tmp_path):
  config = tiny(**{"eval.evaluators": ("zeroshot",), "eval.data_root": str(tmp_path),
                   "eval.tasks": ("fer2013",)})
  with pytest.raises(FileNotFoundError, match=r"fer2013 \("):
    train.train_and_evaluate(config, str(tmp_path / "w"))
