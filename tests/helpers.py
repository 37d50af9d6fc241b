"""Small helpers shared by tests."""

import copy
import os
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent


def tiny(**overrides):
  """configs/tiny.py with dotted-path overrides, e.g. tiny(**{'model.scan_layers': True})."""
  from configs import tiny as tiny_cfg  # pylint: disable=g-import-not-at-top
  config = tiny_cfg.get_config()
  for path, value in overrides.items():
    *parents, leaf = path.split(".")
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def tiny2(**overrides):
  """``tiny`` with two blocks per tower (the "tiny" ViT and BERT sizes instead of configs/tiny.py's
  one-block "micro"): for tests of how blocks stack (scan, layer order in checkpoints, rollout)
  and for bounds calibrated on the two-block model."""
  return tiny(**{"model.image.variant": "tiny/8", "model.text.variant": "tiny", **overrides})


def xla_flags_with_devices(count: int) -> str:
  """$XLA_FLAGS (the suite's compile flags, see conftest.py) with ``count`` fake CPU devices,
  for a subprocess that needs another device count."""
  flags = re.sub(r"\s*--xla_force_host_platform_device_count=\d+", "",
                 os.environ.get("XLA_FLAGS", ""))
  return f"{flags} --xla_force_host_platform_device_count={count}".strip()


def clone(config):
  return copy.deepcopy(config)


def read_scalars(workdir, tag: str) -> dict[int, float]:
  """{step: value} of a scalar written by clu's metric writer (TensorBoard events)."""
  import glob  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = {}
  for path in sorted(glob.glob(f"{workdir}/events.out.tfevents.*")):
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
      event = tf.compat.v1.Event.FromString(raw)
      for v in event.summary.value:
        if v.tag == tag:
          out[event.step] = float(tf.make_ndarray(v.tensor)) if v.HasField("tensor") else (
              v.simple_value)
  return out


def run_main(*args, env=None, timeout=600):
  """Runs main.py in a subprocess; returns the CompletedProcess."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  return subprocess.run([sys.executable, str(REPO / "main.py"), *args], capture_output=True,
                        text=True, cwd=REPO, timeout=timeout, env={**os.environ, **(env or {})})


def step_setup(config, devices=None, seed: int = 0):
  """What tests that run the real train step build: (mesh, model, state, jitted step, batch
  sharding, jitted grad of the loss at a fixed dropout key)."""
  import jax  # pylint: disable=g-import-not-at-top
  from focusclip_jax import models  # pylint: disable=g-import-not-at-top
  from focusclip_jax import optimizer  # pylint: disable=g-import-not-at-top
  from focusclip_jax import sharding  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_state  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_step  # pylint: disable=g-import-not-at-top
  mesh = sharding.create_mesh(config, devices)
  model = models.build_model(config)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 100)
  state = train_state.create_state(model, config, tx, mesh, jax.random.key(seed))
  step = train_step.build_step(model, config, tx, lr, mesh)
  grad_fn = jax.jit(jax.grad(lambda p, b: train_step.loss_fn(model, config, p, b,
                                                             jax.random.key(0))[0]))
  return mesh, model, state, step, sharding.batch_sharding(mesh, config), grad_fn


def multihost_config(steps: int):
  """configs/tiny.py as tests/test_multihost.py trains it: ``steps`` steps, a loss logged at
  every step, a checkpoint every 2 steps, no evaluators; dropout on."""
  config = tiny()
  config.train.num_steps = steps
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  config.eval.evaluators = ()
  assert config.model.text.dropout > 0 and config.model.text.attention_dropout > 0
  return config


def recording_datasets(datasets, seen: dict, sigterm_at: int = 0):
  """``datasets`` whose train_iter records each batch's record indices as seen[global step];
  sigterm_at > 0: this process sends itself SIGTERM while fetching that step's batch (a
  preemption notice) and waits 2 s, so that the notice reaches every process before that
  step runs."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top

  class RecordingDatasets(pipeline.Datasets):

    def train_iter(self, start_step=0):
      for step, batch in enumerate(super().train_iter(start_step), start_step + 1):
        if step == sigterm_at:
          os.kill(os.getpid(), signal.SIGTERM)
          time.sleep(2)
        seen[step] = batch["index"].tolist()
        yield batch

  return RecordingDatasets(**{f.name: getattr(datasets, f.name)
                              for f in dataclasses.fields(datasets)})
