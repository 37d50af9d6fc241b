"""One process of a multi-process CPU training run (or its single-process replay).

usage: multihost_train.py PROCESS_ID NUM_PROCESSES PORT WORKDIR IDS_JSON [REPLAY_JSON]

Each process has 2 fake CPU devices. With NUM_PROCESSES > 1 it joins
jax.distributed on 127.0.0.1:PORT, trains configs/tiny.py for 3 steps on the synthetic data
(its own slice of every global batch) and writes the example ids it read per step to IDS_JSON.
With REPLAY_JSON (single process), it instead replays the global batches listed there (ids per
step, in global order) so the losses can be compared with the multi-process run.
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(pid, nproc, port, workdir, ids_json, replay_json=None):
  pid, nproc = int(pid), int(nproc)
  if nproc > 1:
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
  from configs import tiny  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train  # pylint: disable=g-import-not-at-top
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from input_pipeline import synthetic  # pylint: disable=g-import-not-at-top

  config = tiny.get_config()
  config.train.num_steps = 3
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 3
  config.model.text.dropout = 0.0
  config.model.text.attention_dropout = 0.0
  config.eval.evaluators = ()
  datasets = pipeline.create_datasets(config)
  assert datasets.process_count == nproc and jax.device_count() == 2 * nproc

  if replay_json:
    ex = synthetic.make_examples(config.data.synthetic_examples, 32, 16, config.seed)
    steps = json.load(open(replay_json))

    def replay():
      for ids in steps:
        ids = np.asarray(ids)
        yield {"image": ex["image"][ids] / np.float32(255), "heatmap": ex["heatmap"][ids] / np.float32(255),
               "text_ids": ex["text_ids"][ids], "text_mask": ex["text_mask"][ids], "id": ids}

    train.train_and_evaluate(config, workdir, datasets=datasets, train_iter=replay())
    return

  seen = []

  def recording(it):
    for batch in it:
      seen.append(batch["id"].tolist())
      yield batch

  train.train_and_evaluate(config, workdir, datasets=datasets,
                           train_iter=recording(datasets.train_iter(0)))
  with open(ids_json, "w") as f:
    json.dump(seen, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
