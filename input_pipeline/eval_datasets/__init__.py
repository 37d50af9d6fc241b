"""Zero-shot evaluation datasets, one reader per dataset, each reading its native layout.

``load(name, data_root)`` returns an ``EvalDataset`` (see base.py) for the evaluation names
used in ``config.eval.tasks``; the dataset is looked for in ``data_root/<FOLDERS[name]>``.
"""

from __future__ import annotations

import importlib
import os

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import load_class_prompts

# evaluation name -> (module in this package, reader function, default folder under data_root)
READERS = {
    "kinetics400": ("kinetics", "kinetics400", "kinetics400"),
    "stanford40": ("stanford40", "stanford40", "stanford40"),
    "emotic_age": ("emotic", "emotic_age", "emotic"),
    "lagenda_body": ("lagenda", "lagenda_body", "lagenda"),
    "lagenda_face": ("lagenda", "lagenda_face", "lagenda"),
    "utkface": ("utkface", "utkface_age", "utkface"),
    "emotic_emotion": ("emotic", "emotic_emotion", "emotic"),
    "fer2013": ("fer", "fer2013", "fer2013"),
    "ferplus": ("fer", "ferplus", "ferplus"),
    "fairface_race": ("fairface", "fairface_race", "fairface"),
    "cub": ("cub", "cub200", "cub"),
}

# The paper's ten evaluations, in the order of its table (docs/method.md §7.1).
PAPER_EVALUATIONS = ("kinetics400", "stanford40", "emotic_age", "lagenda_body", "lagenda_face",
                     "utkface", "emotic_emotion", "fer2013", "ferplus", "fairface_race")


def load(name: str, data_root: str, *, split: str | None = None, fixed_grammar: bool = False,
         paper_protocol: bool = False, root: str | None = None) -> EvalDataset:
  """Reads evaluation ``name`` from ``root`` or ``data_root/<default folder>``."""
  if name not in READERS:
    raise ValueError(f"Unknown evaluation {name!r}; known: {sorted(READERS)}")
  module, fn, folder = READERS[name]
  reader = getattr(importlib.import_module(f"input_pipeline.eval_datasets.{module}"), fn)
  path = root or os.path.join(os.path.expanduser(data_root), folder)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"{name}: dataset folder {path} does not exist. Put the dataset there in its native "
        f"layout (README: 'Zero-shot evaluation') or set config.eval.data_root.")
  kwargs = {"fixed_grammar": fixed_grammar, "paper_protocol": paper_protocol}
  if split is not None:
    kwargs["split"] = split
  return reader(path, **kwargs)


__all__ = ["EvalDataset", "Example", "READERS", "PAPER_EVALUATIONS", "load",
           "load_class_prompts"]
