"""The Colab notebook runs headless against a tiny checkpoint trained here."""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from focusclip_jax import train
from tests.helpers import REPO
from tests.helpers import tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("colab_ckpt")
  config = tiny(**{"train.num_steps": 2, "train.checkpoint_every_steps": 2,
                   "eval.evaluators": ()})
  train.train_and_evaluate(config, str(workdir))
  return str(workdir)


def test_notebook_executes(checkpoint, minilm_dir, tmp_path, monkeypatch):
  monkeypatch.setenv("FOCUSCLIP_CHECKPOINT", checkpoint)
  monkeypatch.setenv("FOCUSCLIP_TOKENIZER", minilm_dir)
  monkeypatch.setenv("MPLBACKEND", "Agg")
  nb = nbformat.read(REPO / "colab" / "focusclip_zero_shot.ipynb", as_version=4)
  client = NotebookClient(nb, timeout=300, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                    for o in c.get("outputs", []))
  assert "FocusCLIP: image micro/8 @ 32px" in outputs
  assert "grace_hopper.jpg" in outputs
  assert "alpha =" in outputs
  # three predictions with probabilities for the image, summing to at most 1
  lines = re.findall(r"^  (\S.*?)\s+(\d\.\d{3})$", outputs, re.M)
  assert len(lines) == 3, outputs
  assert {name for name, _ in lines} <= {"programming a computer", "giving a speech",
                                         "reading a book", "playing football", "cooking"}
  assert sum(float(p) for _, p in lines) <= 1.0 + 3e-3
  assert os.path.exists(checkpoint)
  # The attention view: micro/8 at 32 px is a 4 x 4 patch grid, each map a distribution.
  assert "attention maps (rollout): 4 x 4 patches per image, each summing to 1.000" in outputs
