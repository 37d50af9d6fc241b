"""Small helpers shared by tests."""

import copy
import pathlib

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
