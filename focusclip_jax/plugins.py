"""The one plug-in rule: a name in the config -> a ``"module:attribute"`` in a table here.

Training sources (``config.data.dataset``), zero-shot evaluation datasets
(``config.eval.tasks``) and evaluators (``config.eval.evaluators``) are each one module
listed here by name and imported by that name when a config uses it (``load``), so that a
run imports only what it needs (TFDS readers, PIL, video decoding) and these tables are the
only list of the choices: ``config_lib.validate`` asks them.

Adding one is one new file plus one line here (README: 'Layout'):

  SOURCES        name -> factory ``source(config) -> input_pipeline.pipeline.Source``
  EVAL_DATASETS  name -> (reader ``fn(path, *, fixed_grammar, paper_protocol[, split])
                 -> eval_datasets.EvalDataset``, default folder under config.eval.data_root)
  EVALUATORS     name -> class ``(config, *, model, mesh, datasets, workdir)``, an instance
                 being a callable ``(params, step) -> {metric: float}`` with a ``name``
"""

from __future__ import annotations

import importlib
from typing import Any

SOURCES = {
    "mpii_pose_descriptions": "input_pipeline.mpii:source",
    "synthetic": "input_pipeline.synthetic:source",
    "cub": "input_pipeline.cub_source:source",
}

EVAL_DATASETS = {
    "kinetics400": ("input_pipeline.eval_datasets.kinetics:kinetics400", "kinetics400"),
    "stanford40": ("input_pipeline.eval_datasets.stanford40:stanford40", "stanford40"),
    "emotic_age": ("input_pipeline.eval_datasets.emotic:emotic_age", "emotic"),
    "lagenda_body": ("input_pipeline.eval_datasets.lagenda:lagenda_body", "lagenda"),
    "lagenda_face": ("input_pipeline.eval_datasets.lagenda:lagenda_face", "lagenda"),
    "utkface": ("input_pipeline.eval_datasets.utkface:utkface_age", "utkface"),
    "emotic_emotion": ("input_pipeline.eval_datasets.emotic:emotic_emotion", "emotic"),
    "fer2013": ("input_pipeline.eval_datasets.fer:fer2013", "fer2013"),
    "ferplus": ("input_pipeline.eval_datasets.fer:ferplus", "ferplus"),
    "fairface_race": ("input_pipeline.eval_datasets.fairface:fairface_race", "fairface"),
    "cub": ("input_pipeline.eval_datasets.cub:cub200", "cub"),
}

EVALUATORS = {
    "val_loss": "focusclip_jax.evaluators:ValLoss",
    "zeroshot": "focusclip_jax.evaluators:ZeroShot",
    "retrieval": "focusclip_jax.evaluators:Retrieval",
    "linear_probe": "focusclip_jax.evaluators:LinearProbe",
}


def target(entry) -> str:
  """The ``"module:attribute"`` of a table entry."""
  return entry[0] if isinstance(entry, tuple) else entry


def check(table: dict, name: str, field: str) -> None:
  """Raises ValueError naming ``config.<field>`` when ``name`` is not in ``table``."""
  if name not in table:
    raise ValueError(f"config.{field}: unknown {name!r}; known: {sorted(table)} (new ones: one "
                     "line in focusclip_jax/plugins.py)")


def load(table: dict, name: str, field: str) -> Any:
  """Imports the module of ``table[name]`` by its name and returns the attribute."""
  check(table, name, field)
  module, _, attribute = target(table[name]).partition(":")
  return getattr(importlib.import_module(module), attribute)
