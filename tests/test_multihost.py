"""Several processes train like one, survive a preemption notice, and resume on any topology.

configs/tiny.py with the default shuffling and dropout on 2 CPU devices, run as 1 process x 2
devices (in the test process, on 2 of its 8 devices) and as 2 processes x 1 device
(tests/scripts/multiprocess_train.py, jax.distributed on 127.0.0.1):
- both see the same global batches (a function of (seed, step): rows of the epoch
  permutation) and log the same losses;
- SIGTERM to one process on a step the schedule saves anyway: both processes exit 0 saying
  so; resumed on 2 processes the run is bit-identical to the uninterrupted one, resumed on
  1 process it continues with the same batches and losses.
"""

import json
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from focusclip_jax import checkpointing
from focusclip_jax import train
from input_pipeline import pipeline
from tests.helpers import REPO
from tests.helpers import multihost_config
from tests.helpers import read_scalars
from tests.helpers import recording_datasets
from tests.helpers import tiny

SCRIPT = str(REPO / "tests/scripts/multiprocess_train.py")
STEPS = 4


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run(nproc, workdir, tag, *args):
  """Runs the script as ``nproc`` processes (all must exit 0).

  Returns ({step: global batch indices} ([process 0 rows; process 1 rows]),
  [per-process {step: indices}], [per-process stderr]).
  """
  port = _free_port()
  workdir.parent.mkdir(parents=True, exist_ok=True)
  outs = [workdir.parent / f"{tag}{i}.json" for i in range(nproc)]
  procs = [subprocess.Popen([sys.executable, SCRIPT, str(i), str(nproc), str(port),
                             str(workdir), f"--steps={STEPS}", f"--out={outs[i]}", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(nproc)]
  errs = [p.communicate(timeout=600)[1] for p in procs]
  for i, (p, err) in enumerate(zip(procs, errs)):
    assert p.returncode == 0, f"process {i}:\n{err[-4000:]}"
  seen = [{int(s): v for s, v in json.loads(o.read_text()).items()} for o in outs]
  return {s: sum((part[s] for part in seen), []) for s in seen[0]}, seen, errs


def _run_here(workdir):
  """1 process x 2 devices: the same training in this process, on 2 of its devices.
  Returns ({step: batch indices}, [the same])."""
  config = multihost_config(STEPS)
  seen = {}
  datasets = recording_datasets(pipeline.create_datasets(config), seen)
  train.train_and_evaluate(config, str(workdir), datasets=datasets, devices=jax.devices()[:2])
  return dict(seen), [seen]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Uninterrupted runs of STEPS steps: 2 processes x 1 device and 1 process x 2 devices."""
  tmp = tmp_path_factory.mktemp("multiprocess")
  two = _run(2, tmp / "two" / "work", "two")
  one = _run_here(tmp / "one" / "work")
  return (tmp / "two" / "work", two), (tmp / "one" / "work", one)


def test_two_processes_train_like_one(runs):
  (two_dir, (two, per_process, _)), (one_dir, (one, _)) = runs
  config = tiny()
  n, batch = config.data.synthetic_examples, config.train.batch_size
  steps = list(range(1, STEPS + 1))
  assert sorted(two) == sorted(one) == steps
  for step in steps:
    assert len(per_process[0][step]) == len(per_process[1][step]) == batch // 2
    assert not set(per_process[0][step]) & set(per_process[1][step])  # disjoint rows
    # The global batch of step s is a function of (seed, step): rows of the epoch permutation.
    expected = pipeline.global_batch_indices(config.seed, step - 1, n, batch)
    np.testing.assert_array_equal(two[step], expected)
    np.testing.assert_array_equal(one[step], expected)
  two_loss = read_scalars(two_dir, "train/loss")
  one_loss = read_scalars(one_dir, "train/loss")
  assert sorted(two_loss) == sorted(one_loss) == steps
  assert len(set(one_loss.values())) == STEPS  # the model trains: a new loss at every step
  np.testing.assert_allclose([two_loss[s] for s in steps], [one_loss[s] for s in steps],
                             rtol=0, atol=1e-6)
  assert len(list(two_dir.glob("events.out.tfevents.*"))) == 1  # only process 0 writes logs


def test_sigterm_on_a_scheduled_save_step_then_resume_on_two_and_on_one_process(runs, tmp_path):
  """Process 1 gets SIGTERM while fetching step 2, which checkpoint_every_steps=2 saves anyway:
  Orbax's preemption policy saves it inside the regular save, the forced save must not save
  it again. Both processes exit 0 saying so. Resumed on 2 processes the run matches the
  uninterrupted one bit for bit; resumed on 1 process it continues with the same batches."""
  (two_dir, (two, _, _)), _ = runs
  work = tmp_path / "preempted" / "work"
  _, _, errs = _run(2, work, "preempted", "--sigterm_at=2", "--sigterm_process=1")
  for err in errs:
    assert f"Preempted: saved step 2 to {work}" in err, err[-4000:]
    assert "StepAlreadyExistsError" not in err
  assert sorted(int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit()) == [2]
  assert sorted(read_scalars(work, "train/loss")) == [1, 2]
  moved = tmp_path / "moved" / "work"
  shutil.copytree(work, moved)

  resumed, _, _ = _run(2, work, "resumed")  # resumes at step 2 on the same topology
  assert sorted(resumed) == [3, 4]
  reference = read_scalars(two_dir, "train/loss")
  assert read_scalars(work, "train/loss") == reference
  _, params, _ = checkpointing.load_for_inference(str(work))
  _, straight, _ = checkpointing.load_for_inference(str(two_dir))
  jax.tree.map(np.testing.assert_array_equal, params, straight)

  # The same checkpoint resumed by 1 process x 2 devices: the same batches and losses.
  on_one, _ = _run_here(moved)
  assert sorted(on_one) == [3, 4]
  for step in (3, 4):
    np.testing.assert_array_equal(on_one[step], two[step])
  moved_loss = read_scalars(moved, "train/loss")
  assert sorted(moved_loss) == [1, 2, 3, 4]
  np.testing.assert_allclose([moved_loss[s] for s in (1, 2, 3, 4)],
                             [reference[s] for s in (1, 2, 3, 4)], rtol=0, atol=1e-6)
