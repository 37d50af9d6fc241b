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
