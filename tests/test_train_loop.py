"""The train loop end to end through main.py: events, checkpoints, resume, SIGTERM, restore on
another device count, interrupted checkpoints, and the NaN guard."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from focusclip_jax import checkpointing
from focusclip_jax import train
from focusclip_jax.models import params_util
from input_pipeline import pipeline
from tests.helpers import REPO
from tests.helpers import read_scalars
from tests.helpers import run_main
from tests.helpers import tiny

TINY = ["--config=configs/tiny.py", "--config.train.log_every_steps=1"]


def _train(workdir, steps, *extra):
  r = run_main(*TINY, f"--workdir={workdir}", f"--config.train.num_steps={steps}",
               "--config.train.checkpoint_every_steps=3", *extra)
  assert r.returncode == 0, r.stderr[-4000:]
  return r


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """6 steps straight, and 3 steps + exit + resume for 3 more."""
  straight = tmp_path_factory.mktemp("straight")
  resumed = tmp_path_factory.mktemp("resumed")
  _train(straight, 6)
  first = _train(resumed, 3)
  second = _train(resumed, 6)
  return straight, resumed, first, second


def test_main_writes_events_checkpoints_and_config(runs):
  straight, _, _, _ = runs
  assert list(straight.glob("events.out.tfevents.*"))
  assert (straight / "config.json").exists()
  assert sorted(int(p.name) for p in (straight / "checkpoints").iterdir()) == [3, 6]
  losses = read_scalars(straight, "train/loss")
  assert sorted(losses) == [1, 2, 3, 4, 5, 6]
  assert all(np.isfinite(v) for v in losses.values())
  assert read_scalars(straight, "steps_per_sec")  # progress reporting
  assert all(v > 0 for v in read_scalars(straight, "train/examples_per_sec").values())
  assert read_scalars(straight, "val/loss")  # the end-of-training evaluator


def test_resume_is_bit_exact(runs):
  straight, resumed, first, second = runs
  assert "Resuming from" in second.stderr
  a = read_scalars(straight, "train/loss")
  b = read_scalars(resumed, "train/loss")
  assert a == b  # bit-exact loss sequence, steps 1..6
  _, pa, _ = checkpointing.load_for_inference(str(straight))
  _, pb, _ = checkpointing.load_for_inference(str(resumed))
  jax.tree.map(np.testing.assert_array_equal, pa, pb)


def test_finished_run_says_so_and_exits_zero(runs):
  straight = runs[0]
  r = _train(straight, 6)
  assert "Training already finished" in r.stdout


def test_restore_on_one_device(runs, tmp_path):
  straight = runs[0]
  assert jax.device_count() == 8  # the checkpoint was written by an 8-device process
  out = tmp_path / "restored.npz"
  r = subprocess.run([sys.executable, str(REPO / "tests/scripts/restore_check.py"), str(straight),
                      str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  restored = dict(np.load(out))
  assert int(restored.pop("step")) == 6
  _, params, _ = checkpointing.load_for_inference(str(straight))
  flat = params_util.flatten(params)
  assert set(flat) == set(restored)
  for k in flat:
    np.testing.assert_array_equal(flat[k], restored[k])


def test_interrupted_checkpoint_is_never_restored(runs, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  work = tmp_path / "w"
  shutil.copytree(runs[0], work)
  tmp = work / "checkpoints" / "9.orbax-checkpoint-tmp-1234567"
  (tmp / "state").mkdir(parents=True)
  (tmp / "state" / "garbage").write_bytes(b"\x00" * 100)
  config = tiny()
  ckpt = checkpointing.Checkpointer(str(work), config)
  assert ckpt.latest_step() == 6
  ckpt.close()
  _, params, _ = checkpointing.load_for_inference(str(work))
  assert "image_tower" in params


def test_sigterm_saves_the_current_step(tmp_path):
  env = dict(os.environ)
  proc = subprocess.Popen(
      [sys.executable, str(REPO / "main.py"), *TINY, f"--workdir={tmp_path}",
       "--config.train.num_steps=100000", "--config.train.checkpoint_every_steps=100000"],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  seen = 0
  try:
    while time.time() < deadline:
      line = proc.stderr.readline()
      if not line and proc.poll() is not None:
        break
      if "train/loss" in line:
        seen += 1
        if seen >= 3:
          proc.send_signal(signal.SIGTERM)
          break
    rest = proc.communicate(timeout=300)[1]
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, rest[-3000:]
  assert "Preempted: saved step" in rest
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert len(steps) == 1 and 3 <= steps[0] < 100000
  assert f"Preempted: saved step {steps[0]}" in rest


def test_nan_guard_stops_training(tmp_path):
  config = tiny(**{"train.max_nonfinite_steps": 2, "train.num_steps": 10})
  datasets = pipeline.create_datasets(config)
  good = next(datasets.train_iter(0))
  bad = dict(good, image=np.full_like(good["image"], np.nan))

  def batches():
    yield good
    while True:
      yield bad

  with pytest.raises(train.TrainingDivergedError, match=r"2 consecutive steps .* step 3"):
    train.train_and_evaluate(config, str(tmp_path), datasets=datasets, train_iter=batches())
  # The one good step was applied and checkpointed nowhere else than the workdir.
  assert read_scalars(tmp_path, "train/nonfinite")[2] == 1.0
