"""Two processes with jax.distributed on 127.0.0.1 (CPU) train like one process, and survive a
preemption notice (SIGTERM) on a step the schedule saves, resuming bit-exact."""

import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from focusclip_jax import checkpointing
from tests.helpers import REPO
from tests.helpers import read_scalars

SCRIPT = str(REPO / "tests/scripts/multihost_train.py")
STEPS = 4


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _two_processes(workdir, *args, ids=None):
  """Runs the script as processes 0 and 1; returns their stderr (both must exit 0)."""
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, SCRIPT, str(i), "2", str(port), str(workdir), f"--steps={STEPS}",
       *([f"--ids={ids}{i}.json"] if ids else []), *args],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=500) for p in procs]
  for i, (p, (_, err)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0, f"process {i}:\n{err[-4000:]}"
  return [err for _, err in outs]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  """A 2-process run of STEPS steps and the example ids each process read per step."""
  tmp = tmp_path_factory.mktemp("multihost")
  work = tmp / "multi"
  _two_processes(work, ids=tmp / "ids")
  ids = [{int(k): v for k, v in json.load(open(tmp / f"ids{i}.json")).items()} for i in range(2)]
  return work, ids


def test_two_processes_match_one(uninterrupted, tmp_path):
  work, ids = uninterrupted
  steps = list(range(1, STEPS + 1))
  assert sorted(ids[0]) == sorted(ids[1]) == steps
  for step in steps:
    assert len(ids[0][step]) == len(ids[1][step]) == 4  # local batch = 8 / 2 processes
    assert not set(ids[0][step]) & set(ids[1][step])  # disjoint slices
  multi = read_scalars(work, "train/loss")
  assert sorted(multi) == steps

  # The same global batches ([process 0 slice; process 1 slice]) in one process.
  replay = tmp_path / "replay.json"
  replay.write_text(json.dumps([ids[0][s] + ids[1][s] for s in steps]))
  single = tmp_path / "single"
  r = subprocess.run([sys.executable, SCRIPT, "0", "1", "0", str(single), f"--steps={STEPS}",
                      f"--replay={replay}"], cwd=REPO, capture_output=True, text=True,
                     timeout=500)
  assert r.returncode == 0, r.stderr[-4000:]
  ref = read_scalars(single, "train/loss")
  np.testing.assert_allclose([multi[s] for s in steps], [ref[s] for s in steps], rtol=1e-5,
                             atol=1e-5)
  assert len(list(work.glob("events.out.tfevents.*"))) == 1  # only process 0 writes logs


def test_sigterm_on_a_scheduled_save_step_then_resume_is_bit_exact(uninterrupted, tmp_path):
  """Process 1 gets SIGTERM while fetching step 2, which checkpoint_every_steps=2 saves anyway:
  Orbax's preemption policy saves it inside the regular save, the forced save must not save
  it again. Both processes exit 0 saying so; a resumed run matches the uninterrupted one."""
  work = tmp_path / "preempted"
  errs = _two_processes(work, "--sigterm_at=2", "--sigterm_process=1")
  for err in errs:
    assert f"Preempted: saved step 2 to {work}" in err, err[-4000:]
    assert "StepAlreadyExistsError" not in err
  assert sorted(int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit()) == [2]
  assert sorted(read_scalars(work, "train/loss")) == [1, 2]

  _two_processes(work)  # resumes at step 2
  reference = uninterrupted[0]
  assert read_scalars(work, "train/loss") == read_scalars(reference, "train/loss")
  _, resumed, _ = checkpointing.load_for_inference(str(work))
  _, straight, _ = checkpointing.load_for_inference(str(reference))
  jax.tree.map(np.testing.assert_array_equal, resumed, straight)
