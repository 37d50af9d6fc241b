"""One process of a CPU training run whose 2 devices are split over 1 or 2 processes.

usage: order_train.py PROCESS_ID NUM_PROCESSES PORT WORKDIR NUM_STEPS INDICES_JSON

NUM_PROCESSES = 1: one process with 2 devices; 2: two processes with 1 device each, joined
with jax.distributed on 127.0.0.1:PORT. Trains configs/tiny.py (synthetic data, the default
shuffling and dropout) up to NUM_STEPS, resuming from WORKDIR's latest checkpoint if any, and
writes the record indices this process read per step to INDICES_JSON as {step: indices}.
"""

import dataclasses
import json
import os
import sys

# configs/ is not an installed package (it is loaded by path); the scripts run as files, so
# the repository root goes on sys.path for `from configs import tiny`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

NUM_DEVICES = 2
_nproc = int(sys.argv[2])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={NUM_DEVICES // _nproc}"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(pid, nproc, port, workdir, num_steps, indices_json):
  pid, nproc, num_steps = int(pid), int(nproc), int(num_steps)
  if nproc > 1:
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
  from configs import tiny  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train  # pylint: disable=g-import-not-at-top
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top

  config = tiny.get_config()
  config.train.num_steps = num_steps
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 10**6  # only the final step (to resume from)
  config.eval.evaluators = ()
  assert config.model.text.dropout > 0 and config.model.text.attention_dropout > 0
  datasets = pipeline.create_datasets(config)
  assert datasets.process_count == nproc and jax.device_count() == NUM_DEVICES

  seen = {}

  class RecordingDatasets(pipeline.Datasets):
    """Records the indices of the batches the train loop takes, keyed by global step."""

    def train_iter(self, start_step=0):
      for step, batch in enumerate(super().train_iter(start_step), start_step + 1):
        seen[step] = batch["index"].tolist()
        yield batch

  datasets = RecordingDatasets(**{f.name: getattr(datasets, f.name)
                                  for f in dataclasses.fields(datasets)})
  train.train_and_evaluate(config, workdir, datasets=datasets)
  with open(indices_json, "w") as f:
    json.dump(seen, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
