"""The train loop end to end through main.py: events, checkpoints, resume, SIGTERM (also right
after a scheduled save), restore on another device count, interrupted checkpoints, and the NaN
guard."""

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from focusclip_jax import checkpointing
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding
from focusclip_jax import train
from focusclip_jax import train_state
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


class _Records(logging.Handler):
  """Collects the messages logged while it is attached to the root logger."""

  def __init__(self):
    super().__init__(logging.INFO)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """6 steps straight through main.py; and, through the library call main.py makes (in this
  process: one start-up less), 3 steps + return + resume for 3 more."""
  straight = tmp_path_factory.mktemp("straight")
  resumed = tmp_path_factory.mktemp("resumed")
  straight_stdout = _train(straight, 6).stdout
  (straight / "stdout.txt").write_text(straight_stdout)
  config = tiny(**{"train.log_every_steps": 1, "train.checkpoint_every_steps": 3,
                   "train.num_steps": 3})
  root = logging.getLogger()
  records, level = _Records(), root.level
  root.addHandler(records)
  root.setLevel(logging.INFO)
  try:
    train.train_and_evaluate(config, str(resumed))
    first = list(records.messages)
    config.train.num_steps = 6
    train.train_and_evaluate(config, str(resumed))
    second = records.messages[len(first):]
  finally:
    root.removeHandler(records)
    root.setLevel(level)
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
  # A console line per log interval: step/total, loss (as logged), examples/s, ETA.
  lines = [l for l in (straight / "stdout.txt").read_text().splitlines() if l.startswith("step ")]
  assert len(lines) == 6, lines
  for step, line in enumerate(lines, 1):
    m = re.fullmatch(r"step (\d+)/6  loss (\S+)  (\S+) examples/s  ETA (\d+):(\d\d):(\d\d)",
                     line)
    assert m, line
    assert int(m[1]) == step and float(m[2]) == pytest.approx(losses[step], abs=1e-4)
    assert float(m[3]) > 0
  assert lines[-1].endswith("ETA 0:00:00")


def test_resume_is_bit_exact(runs):
  straight, resumed, first, second = runs
  assert not any("Resuming from" in m for m in first)
  assert any(m.startswith(f"Resuming from {resumed}") for m in second), second
  a = read_scalars(straight, "train/loss")
  b = read_scalars(resumed, "train/loss")
  assert a == b  # bit-exact loss sequence, steps 1..6
  _, pa, _ = checkpointing.load_for_inference(str(straight))
  _, pb, _ = checkpointing.load_for_inference(str(resumed))
  jax.tree.map(np.testing.assert_array_equal, pa, pb)


def test_resume_names_the_config_fields_that_changed(runs):
  """The second call raised train.num_steps 3 -> 6: the resume warns with exactly that field."""
  _, resumed, first, second = runs
  warnings = [m for m in second if "differs from the one it was trained with" in m]
  assert len(warnings) == 1 and not any("differs" in m for m in first)
  assert "train.num_steps: 3 -> 6 (fine if intended" in warnings[0], warnings[0]
  assert warnings[0].count(" -> ") == 1
  assert checkpointing.config_changes({"a": {"b": 1}, "c": [1]}, {"a": {"b": 2}, "c": [1]}) == [
      "a.b: 1 -> 2"]
  assert checkpointing.config_changes(None, {"a": 1}) == []  # no saved config: nothing to say


def test_finished_run_says_so_and_returns(runs, capsys):
  """main.py's library call on a finished workdir: it says so and returns the final state
  without training (in this process: a main.py start-up less)."""
  straight = runs[0]
  config = tiny(**{"train.log_every_steps": 1, "train.checkpoint_every_steps": 3,
                   "train.num_steps": 6})
  state = train.train_and_evaluate(config, str(straight))
  assert f"Training already finished (step 6/6 in {straight})." in capsys.readouterr().out
  assert int(state.step) == 6
  assert sorted(read_scalars(straight, "train/loss")) == [1, 2, 3, 4, 5, 6]  # nothing added


def test_restore_on_one_device(runs):
  """The checkpoint written by the 8-device run restores onto a 1-device mesh (Orbax reshards
  to the restore target's shardings) with the same step and parameters."""
  straight = runs[0]
  assert jax.device_count() == 8  # the checkpoint was written by an 8-device process
  _, params, config = checkpointing.load_for_inference(str(straight))
  mesh = sharding.create_mesh(config, jax.devices()[:1])
  model = models.build_model(config)
  tx, _ = optimizer.build(config, train_state.abstract_train_params(model, config), 10)
  ckpt = checkpointing.Checkpointer(str(straight), config)
  state = ckpt.restore(train_state.abstract_state(model, config, tx, mesh))
  ckpt.close()
  assert int(jax.device_get(state.step)) == 6
  assert all(x.sharding.device_set == {jax.devices()[0]} for x in jax.tree.leaves(state))
  restored = params_util.flatten(jax.device_get(state.params))
  flat = params_util.flatten(params)
  assert set(flat) == set(restored)
  for k in flat:
    np.testing.assert_array_equal(flat[k], restored[k])


def test_interrupted_checkpoint_is_never_restored(runs, tmp_path):
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
  _, saved, _ = checkpointing.load_for_inference(str(runs[0]))
  assert params_util.flatten(params).keys() == params_util.flatten(saved).keys()
  jax.tree.map(np.testing.assert_array_equal, params, saved)  # step 6, bit for bit


def _abstract_state(config, total_steps):
  model = models.build_model(config)
  tx, _ = optimizer.build(config, train_state.abstract_train_params(model, config), total_steps)
  return train_state.abstract_state(model, config, tx, sharding.create_mesh(config))


def _sigterm_while_fetching(batches, step):
  """Yields ``batches``; sends this process SIGTERM while the loop fetches step ``step``'s."""
  for i, batch in enumerate(batches, 1):
    if i == step:
      os.kill(os.getpid(), signal.SIGTERM)
    yield batch


def test_sigterm_right_after_a_scheduled_save_then_resume_is_bit_exact(runs, tmp_path, caplog):
  """checkpoint_every_steps=1: the schedule has just saved (asynchronously) the step the
  SIGTERM stops at. The run ends normally with that step saved once; the checkpoint holds
  exactly the state in memory; resuming gives the uninterrupted run's losses and parameters."""
  config = tiny(**{"train.num_steps": 6, "train.checkpoint_every_steps": 1,
                   "eval.evaluators": ()})  # evaluators do not touch the state
  datasets = pipeline.create_datasets(config)
  with caplog.at_level(logging.WARNING):
    state = train.train_and_evaluate(
        config, str(tmp_path), datasets=datasets,
        train_iter=_sigterm_while_fetching(datasets.train_iter(0), 2))
  assert f"Preempted: saved step 2 to {tmp_path}" in caplog.text
  assert int(state.step) == 2
  ckpt = checkpointing.Checkpointer(str(tmp_path), config)
  assert ckpt.all_steps() == [1, 2]
  restored = ckpt.restore(_abstract_state(config, 6))
  ckpt.close()
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), jax.device_get(state))

  train.train_and_evaluate(config, str(tmp_path))  # resumes at step 2
  straight = runs[0]
  assert read_scalars(tmp_path, "train/loss") == read_scalars(straight, "train/loss")
  _, resumed, _ = checkpointing.load_for_inference(str(tmp_path))
  _, reference, _ = checkpointing.load_for_inference(str(straight))
  jax.tree.map(np.testing.assert_array_equal, resumed, reference)


def test_sigterm_saves_the_current_step(tmp_path):
  """main.py exits 0 on SIGTERM; every step is a scheduled save, so the signal always lands
  on a step that was just saved (or is being saved)."""
  env = dict(os.environ)
  proc = subprocess.Popen(
      [sys.executable, str(REPO / "main.py"), *TINY, f"--workdir={tmp_path}",
       "--config.train.num_steps=100000", "--config.train.checkpoint_every_steps=1"],
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
  assert "Preempted: saved step" in rest and "StepAlreadyExistsError" not in rest
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert 3 <= steps[-1] < 100000 and len(steps) <= 3  # train.keep_checkpoints
  assert f"Preempted: saved step {steps[-1]} " in rest


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
  assert read_scalars(tmp_path, "train/nonfinite")[2] == 1.0
  # "The latest checkpoint holds the last good state": step 2 (saved on schedule) has the
  # parameters of the one good step, all finite.
  ckpt = checkpointing.Checkpointer(str(tmp_path), config)
  assert ckpt.all_steps() == [2]
  restored = jax.device_get(ckpt.restore(_abstract_state(config, 10)))
  ckpt.close()
  assert all(np.isfinite(x).all() for x in jax.tree.leaves((restored.params, restored.opt_state)))
  assert int(restored.nonfinite_streak) == 1


def test_progress_line():
  line = train.progress_line(10, 300, {"loss": 1.23456, "examples_per_sec": 12.34}, 2.0)
  assert line == "step 10/300  loss 1.2346  12.3 examples/s  ETA 0:09:40"  # 290 steps x 2 s
  assert train.progress_line(5, 5, {"loss": 0.5, "examples_per_sec": 1.0}, 9.0).endswith(
      "ETA 0:00:00")
  assert "ETA 2:00:00" in train.progress_line(0, 3600, {"loss": 0, "examples_per_sec": 1}, 2.0)
