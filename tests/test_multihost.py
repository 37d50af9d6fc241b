"""Two processes with jax.distributed on 127.0.0.1 (CPU) train like one process."""

import json
import socket
import subprocess
import sys

import numpy as np

from tests.helpers import REPO
from tests.helpers import read_scalars

SCRIPT = str(REPO / "tests/scripts/multihost_train.py")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
  port = _free_port()
  work = tmp_path / "multi"
  procs = [subprocess.Popen([sys.executable, SCRIPT, str(i), "2", str(port), str(work),
                             str(tmp_path / f"ids{i}.json")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=500) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-4000:]
  ids = [json.load(open(tmp_path / f"ids{i}.json")) for i in range(2)]
  assert len(ids[0]) == len(ids[1]) == 3
  for step in range(3):
    assert len(ids[0][step]) == len(ids[1][step]) == 4  # local batch = 8 / 2 processes
    assert not set(ids[0][step]) & set(ids[1][step])  # disjoint slices
  assert not {i for s in ids[0] for i in s} & {i for s in ids[1] for i in s}
  multi = read_scalars(work, "train/loss")
  assert sorted(multi) == [1, 2, 3]

  # The same global batches ([process 0 slice; process 1 slice]) in one process.
  replay = tmp_path / "replay.json"
  replay.write_text(json.dumps([ids[0][s] + ids[1][s] for s in range(3)]))
  single = tmp_path / "single"
  r = subprocess.run([sys.executable, SCRIPT, "0", "1", "0", str(single), "", str(replay)],
                     cwd=REPO, capture_output=True, text=True, timeout=500)
  assert r.returncode == 0, r.stderr[-4000:]
  ref = read_scalars(single, "train/loss")
  np.testing.assert_allclose([multi[s] for s in (1, 2, 3)], [ref[s] for s in (1, 2, 3)],
                             rtol=1e-5, atol=1e-5)
  assert len(list(work.glob("events.out.tfevents.*"))) == 1  # only process 0 writes logs
