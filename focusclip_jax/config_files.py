"""Loading a ``configs/*.py`` file by path, with ``key=value`` overrides.

What main.py's ``--config=path[:arg]`` / ``--config.key=value`` flags do, for the scripts that
do not use absl flags (benchmarks, the demo, Colab): the file's ``get_config([arg])`` plus
overrides whose values are Python literals (else strings).
"""

from __future__ import annotations

import ast
import importlib.util
import os

import ml_collections


def load(path: str, overrides=(), *, arg: str | None = None) -> ml_collections.ConfigDict:
  """``get_config(arg)`` of the config file at ``path``, then each ``key=value`` override."""
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"Config file {path!r} not found: pass a path such as configs/vitb16.py (relative to "
        "the repository root, where configs/ sits next to focusclip_jax/).")
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f"_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config() if arg is None else module.get_config(arg)
  for item in overrides or ():
    apply_override(config, item)
  return config


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
  """``'model.scan_layers=True'`` -> ``config.model.scan_layers = True``; a list value for a
  tuple field becomes a tuple. Unknown keys raise KeyError naming the key."""
  if "=" not in item:
    raise ValueError(f"config override {item!r}: expected key=value, e.g. train.batch_size=8")
  key, raw = item.split("=", 1)
  key = key.strip().removeprefix("config.")
  try:
    value = ast.literal_eval(raw)
  except (ValueError, SyntaxError):
    value = raw
  *parents, leaf = key.split(".")
  node = config
  for part in parents:
    if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
      raise KeyError(f"config override {item!r}: the config has no section {part!r}")
    node = node[part]
  if leaf not in node:
    raise KeyError(f"config override {item!r}: the config has no field {key!r}")
  if isinstance(node[leaf], tuple) and isinstance(value, list):
    value = tuple(value)
  setattr(node, leaf, value)
