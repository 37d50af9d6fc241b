"""Several processes train like one, survive a preemption notice, and resume on any topology.

configs/tiny.py with the default shuffling and dropout on 2 CPU devices, run as 1 process x 2
devices (in the test process, on 2 of its 8 devices) and as 2 processes x 1 device
(tests/scripts/multiprocess_train.py, jax.distributed on 127.0.0.1):
- the 1-process run goes straight through; the 2-process run gets SIGTERM in one process on
  a step the schedule saves anyway: both processes exit 0 saying so; resumed on 2 processes
  it finishes, and resumed on 1 process (a copy of the same checkpoint) it continues too;
- every run sees the same global batches (a function of (seed, step): rows of the epoch
  permutation), the two processes disjoint halves of them, and all runs log the same losses
  and end with the same parameters, bit for bit (a sum over two devices is the same sum
  whether the devices are in one process or two).
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
  """The uninterrupted 1-process x 2-device run; the 2-process run preempted at step 2 (a copy
  of its workdir taken then) and resumed to the end on 2 processes."""
  tmp = tmp_path_factory.mktemp("multiprocess")
  one_dir = tmp / "one" / "work"
  one, _ = _run_here(one_dir)
  work = tmp / "two" / "work"
  preempted = _run(2, work, "preempted", "--sigterm_at=2", "--sigterm_process=1")
  moved = tmp / "moved" / "work"
  shutil.copytree(work, moved)
  resumed = _run(2, work, "resumed")  # resumes at step 2 on the same topology
  return (one_dir, one), (work, preempted, resumed), moved


def test_two_processes_train_like_one(runs):
  (one_dir, one), (two_dir, (_, pre, _), (_, res, _)), _ = runs
  # Steps 1-2 from the preempted launch, 3-4 from the resumed one, per process.
  per_process = [{**{s: pre[i][s] for s in (1, 2)}, **{s: res[i][s] for s in res[i]}}
                 for i in range(2)]
  two = {s: per_process[0][s] + per_process[1][s] for s in per_process[0]}
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
  assert two_loss == one_loss  # bit for bit, through the preemption
  _, params, _ = checkpointing.load_for_inference(str(two_dir))
  _, straight, _ = checkpointing.load_for_inference(str(one_dir))
  jax.tree.map(np.testing.assert_array_equal, params, straight)
  # Only process 0 writes logs: one events file per launch.
  assert len(list(two_dir.glob("events.out.tfevents.*"))) == 2


def test_sigterm_on_a_scheduled_save_step_then_resume_on_two_and_on_one_process(runs):
  """Process 1 gets SIGTERM while fetching step 2, which checkpoint_every_steps=2 saves anyway:
  Orbax's preemption policy saves it inside the regular save, the forced save must not save
  it again. Both processes exit 0 saying so. Resumed on 2 processes the run matches the
  uninterrupted one bit for bit (test above); resumed on 1 process it continues with the same
  batches and losses."""
  (one_dir, one), (work, (_, _, errs), (resumed, _, _)), moved = runs
  for err in errs:
    assert f"Preempted: saved step 2 to {work}" in err, err[-4000:]
    assert "StepAlreadyExistsError" not in err
  assert sorted(int(p.name) for p in (moved / "checkpoints").iterdir() if p.name.isdigit()) == [2]
  assert sorted(read_scalars(moved, "train/loss")) == [1, 2]
  assert sorted(resumed) == [3, 4]  # the 2-process resume started at step 3

  # The same checkpoint resumed by 1 process x 2 devices: the same batches and losses.
  on_one, _ = _run_here(moved)
  assert sorted(on_one) == [3, 4]
  for step in (3, 4):
    np.testing.assert_array_equal(on_one[step], one[step])
  assert read_scalars(moved, "train/loss") == read_scalars(one_dir, "train/loss")
