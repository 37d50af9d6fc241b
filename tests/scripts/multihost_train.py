"""One process of a multi-process CPU training run (or its single-process replay).

usage: multihost_train.py PROCESS_ID NUM_PROCESSES PORT WORKDIR [--steps N] [--ids IDS_JSON]
                          [--replay REPLAY_JSON] [--sigterm_at STEP --sigterm_process P]

Each process has 2 fake CPU devices. With NUM_PROCESSES > 1 it joins jax.distributed on
127.0.0.1:PORT and trains configs/tiny.py up to N steps (default 3) on the synthetic data (its
own slice of every global batch), resuming from WORKDIR's latest checkpoint if any, and
writes the example ids it read per global step to IDS_JSON as {step: ids}.
--replay (single process): replays the global batches listed there (ids per step, in global
order) instead, so the losses can be compared with the multi-process run.
--sigterm_at: process P sends itself SIGTERM while fetching the batch of step STEP (a
preemption notice; JAX's preemption service takes it and all processes agree on a step to
save at), then waits 2 s so that the notice reaches every process before that step runs.
"""

import argparse
import dataclasses
import json
import os
import signal
import sys
import time

# configs/ is not an installed package (it is loaded by path); the scripts run as files, so
# the repository root goes on sys.path for `from configs import tiny`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(args):
  pid, nproc = args.process_id, args.num_processes
  if nproc > 1:
    jax.distributed.initialize(f"127.0.0.1:{args.port}", num_processes=nproc, process_id=pid)
  from configs import tiny  # pylint: disable=g-import-not-at-top
  from focusclip_jax import batch_spec  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train  # pylint: disable=g-import-not-at-top
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from input_pipeline import synthetic  # pylint: disable=g-import-not-at-top

  config = tiny.get_config()
  config.train.num_steps = args.steps
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  config.model.text.dropout = 0.0
  config.model.text.attention_dropout = 0.0
  config.eval.evaluators = ()
  datasets = pipeline.create_datasets(config)
  assert datasets.process_count == nproc and jax.device_count() == 2 * nproc

  if args.replay:
    ex = synthetic.make_examples(config.data.synthetic_examples, 32, 16, config.seed)
    steps = json.load(open(args.replay))

    def replay():
      for ids in steps:
        ids = np.asarray(ids)
        yield dict(batch_spec.from_uint8({k: v[ids] for k, v in ex.items()}), id=ids)

    train.train_and_evaluate(config, args.workdir, datasets=datasets, train_iter=replay())
    return

  seen = {}

  class RecordingDatasets(pipeline.Datasets):
    """Records the ids of the batches the train loop takes (by global step); sends SIGTERM."""

    def train_iter(self, start_step=0):
      for step, batch in enumerate(super().train_iter(start_step), start_step + 1):
        if step == args.sigterm_at and pid == args.sigterm_process:
          os.kill(os.getpid(), signal.SIGTERM)
          time.sleep(2)
        seen[step] = batch["id"].tolist()
        yield batch

  datasets = RecordingDatasets(**{f.name: getattr(datasets, f.name)
                                  for f in dataclasses.fields(datasets)})
  train.train_and_evaluate(config, args.workdir, datasets=datasets)
  if args.ids:
    with open(args.ids, "w") as f:
      json.dump(seen, f)


if __name__ == "__main__":
  parser = argparse.ArgumentParser()
  parser.add_argument("process_id", type=int)
  parser.add_argument("num_processes", type=int)
  parser.add_argument("port", type=int)
  parser.add_argument("workdir")
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--ids", default="")
  parser.add_argument("--replay", default="")
  parser.add_argument("--sigterm_at", type=int, default=0)
  parser.add_argument("--sigterm_process", type=int, default=0)
  main(parser.parse_args())
