"""The batches and losses of a run do not depend on how its devices are split over processes.

configs/tiny.py with the default shuffling and dropout on 2 CPU devices: 1 process x 2
devices and 2 processes x 1 device (jax.distributed on 127.0.0.1) see the same global batches
and log the same losses, and a run resumed with the other process count continues with the
batches and losses of the uninterrupted run.
"""

import json
import socket
import subprocess
import sys

import numpy as np

from input_pipeline import pipeline
from tests.helpers import REPO
from tests.helpers import read_scalars
from tests.helpers import tiny

SCRIPT = str(REPO / "tests/scripts/order_train.py")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run(nproc, workdir, num_steps, tmp_path, tag):
  """Runs order_train.py; returns {step: global batch indices} ([process 0; process 1])."""
  port = _free_port()
  outs = [tmp_path / f"{tag}{i}.json" for i in range(nproc)]
  procs = [subprocess.Popen([sys.executable, SCRIPT, str(i), str(nproc), str(port),
                             str(workdir), str(num_steps), str(outs[i])], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(nproc)]
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-4000:]
  seen = [json.loads(o.read_text()) for o in outs]
  return {int(s): sum((part[s] for part in seen), []) for s in seen[0]}


def test_one_and_two_processes_and_a_resume_across_them_agree(tmp_path):
  config = tiny()
  n, batch = config.data.synthetic_examples, config.train.batch_size
  # Uninterrupted, 1 process x 2 devices, steps 1..5 (8 steps per epoch).
  ref_dir = tmp_path / "one"
  ref = _run(1, ref_dir, 5, tmp_path, "one")
  # 2 processes x 1 device, steps 1..3; then resumed on 1 process x 2 devices to step 5.
  split_dir = tmp_path / "split"
  first = _run(2, split_dir, 3, tmp_path, "two")
  resumed = _run(1, split_dir, 5, tmp_path, "resumed")
  assert sorted(ref) == [1, 2, 3, 4, 5]
  assert sorted(first) == [1, 2, 3] and sorted(resumed) == [4, 5]
  for step, indices in ref.items():
    # The global batch of step s is a function of (seed, step): rows of the epoch permutation.
    np.testing.assert_array_equal(indices, pipeline.global_batch_indices(
        config.seed, step - 1, n, batch))
    np.testing.assert_array_equal({**first, **resumed}[step], indices)
  ref_loss = read_scalars(ref_dir, "train/loss")
  split_loss = read_scalars(split_dir, "train/loss")
  assert sorted(ref_loss) == sorted(split_loss) == [1, 2, 3, 4, 5]
  assert len(set(ref_loss.values())) == 5  # the model trains: a different loss at every step
  np.testing.assert_allclose([split_loss[s] for s in range(1, 6)],
                             [ref_loss[s] for s in range(1, 6)], rtol=0, atol=1e-6)
