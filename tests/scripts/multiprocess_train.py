"""One process of a CPU training run whose 2 devices are split over 1 or 2 processes.

usage: multiprocess_train.py PROCESS_ID NUM_PROCESSES PORT WORKDIR --steps N --out JSON
                             [--sigterm_at STEP --sigterm_process P]

NUM_PROCESSES = 1: one process with 2 devices; 2: two processes with 1 device each, joined
with jax.distributed on 127.0.0.1:PORT. Trains configs/tiny.py (synthetic data, the default
shuffling and dropout, a checkpoint every 2 steps) up to N steps, resuming from WORKDIR's
latest checkpoint if any, and writes the record indices this process read per global step
to JSON as {step: indices}.
--sigterm_at: process P sends itself SIGTERM while fetching the batch of step STEP (a
preemption notice; with two processes JAX's preemption service takes it and the processes
agree on a step to save at), then waits 2 s so that the notice reaches every process before
that step runs.
"""

import argparse
import json
import os
import sys

# configs/ is not an installed package (it is loaded by path); the scripts run as files, so
# the repository root goes on sys.path for `from configs import tiny`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

NUM_DEVICES = 2
_nproc = int(sys.argv[2])
# Before jax is imported: the device count per process.
from tests.helpers import xla_flags_with_devices  # pylint: disable=g-import-not-at-top,wrong-import-position
os.environ["XLA_FLAGS"] = xla_flags_with_devices(NUM_DEVICES // _nproc)

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(args):
  pid, nproc = args.process_id, args.num_processes
  if nproc > 1:
    jax.distributed.initialize(f"127.0.0.1:{args.port}", num_processes=nproc, process_id=pid)
  # After jax.distributed.initialize, which must run before any jax computation.
  from focusclip_jax import train  # pylint: disable=g-import-not-at-top
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from tests.helpers import multihost_config  # pylint: disable=g-import-not-at-top
  from tests.helpers import recording_datasets  # pylint: disable=g-import-not-at-top

  config = multihost_config(args.steps)
  datasets = pipeline.create_datasets(config)
  assert datasets.process_count == nproc and jax.device_count() == NUM_DEVICES
  seen = {}
  datasets = recording_datasets(
      datasets, seen, args.sigterm_at if pid == args.sigterm_process else 0)
  train.train_and_evaluate(config, args.workdir, datasets=datasets)
  with open(args.out, "w") as f:
    json.dump(seen, f)


if __name__ == "__main__":
  parser = argparse.ArgumentParser()
  parser.add_argument("process_id", type=int)
  parser.add_argument("num_processes", type=int)
  parser.add_argument("port", type=int)
  parser.add_argument("workdir")
  parser.add_argument("--steps", type=int, required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--sigterm_at", type=int, default=0)
  parser.add_argument("--sigterm_process", type=int, default=0)
  main(parser.parse_args())
