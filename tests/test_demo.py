"""`make demo` end to end at toy size: render -> real builder -> train both models -> evaluate
-> table and pictures. (The real demo trains 200 steps; here 2, on smaller towers, so only the
plumbing and the outputs are checked, not the accuracy. Loading the demo's pretrained MiniLM is
tested in test_pretrained.py.)

Run as `make demo` runs it: its own process on one CPU device (the suite's 8 fake devices
would also exercise XLA:CPU's in-process collectives, which the demo never uses)."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from focusclip_tools import demo
from tests.helpers import REPO
from tests.helpers import xla_flags_with_devices


# A random one-layer text tower and the smallest ConvNet instead of the pretrained MiniLM-L6 and
# 'convnet-mini': the same code path at ~40% less time (compiles); 4 examples per example grid
# instead of 12 (matplotlib draws each figure twice for its tight bounding box).
TOY = ("model.image.variant=convnet-tiny", "model.text.variant=micro", "model.text.init=",
       "model.embed_dim=32", "eval.num_plot_examples=4")


@pytest.mark.slow
def test_demo_end_to_end_at_toy_size(tmp_path):
  workdir = tmp_path / "demo"
  env = {**os.environ, "XLA_FLAGS": xla_flags_with_devices(1)}
  proc = subprocess.run(
      [sys.executable, "-m", "focusclip_tools.demo", f"--workdir={workdir}", "--steps=2",
       "--num_train=64", "--num_eval=20", "--config_override", *TOY],
      cwd=REPO, env=env, capture_output=True, text=True,
      timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = proc.stdout
  result = json.loads((workdir / "results.json").read_text())
  # The table: one row per task with FocusCLIP, CLIP baseline and chance, printed and saved.
  assert ("| task | FocusCLIP [95% CI] | CLIP baseline [95% CI] | FocusCLIP − CLIP baseline "
          "[95% paired CI] |") in out
  # A verdict says better/worse only when the paired interval excludes 0.
  for task, e in result["comparison"]["tasks"].items():
    lo, hi = e["difference"]["ci95"]
    assert ("better" in e["verdict"] or "worse" in e["verdict"]) == (lo > 0 or hi < 0)
  rows = {r[0]: r[1:] for r in result["rows"]}
  assert set(rows) == set(demo.TASKS.values())
  assert rows["activity (top-3)"][2] == pytest.approx(30.0)  # 3 of 10 activities
  assert rows["age: kid vs adult (top-1)"][2] == pytest.approx(100 / 3)  # kid/teenager/adult
  for focus, clip, _ in rows.values():
    assert 0.0 <= focus <= 100.0 and 0.0 <= clip <= 100.0
  assert result["table"] in out and result["table"] in (workdir / "results.md").read_text()
  assert len(result["verdicts"]) >= len(rows)
  # Both runs trained with the real loop (TensorBoard logs, a final checkpoint).
  for run in ("focusclip", "clip"):
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(workdir / run))
    assert (workdir / run / "checkpoints" / "2").is_dir()
  # The pictures: training curves, heatmap grid, confusion matrices, all readable PNGs.
  names = {os.path.basename(p) for p in result["pictures"]}
  assert {"training_curves.png", "heatmaps_and_highlighted.png",
          "focusclip_confusion_stanford40.png", "clip_confusion_stanford40.png"} <= names
  for path in result["pictures"]:
    with Image.open(path) as im:
      im.load()
      assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
