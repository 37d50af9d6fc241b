"""Zero-shot evaluation datasets, one reader per dataset, each reading its native layout.

``load(name, data_root)`` returns an ``EvalDataset`` (see base.py) for the evaluation names
used in ``config.eval.tasks`` (the table of names, readers and default folders:
focusclip_jax/plugins.py ``EVAL_DATASETS``); the dataset is looked for in
``data_root/<default folder>``.
"""

from __future__ import annotations

import os

from focusclip_jax import plugins
from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import load_class_prompts

# The paper's ten evaluations, in the order of its table (docs/method.md §7.1).
PAPER_EVALUATIONS = ("kinetics400", "stanford40", "emotic_age", "lagenda_body", "lagenda_face",
                     "utkface", "emotic_emotion", "fer2013", "ferplus", "fairface_race")


# Linear probe (focusclip_jax/linear_probe.py): (train split, test split) per evaluation, from
# each dataset's official splits. LAGENDA has none (its readers hold one 'all' split), so it is
# not probed; UTKFace's are the annotation CSVs the reference's layout has (train.csv next to
# its val.csv), when present.
PROBE_SPLITS = {
    "kinetics400": ("train", "test"), "stanford40": ("train", "test"),
    "emotic_age": ("train", "test"), "emotic_emotion": ("train", "test"),
    "utkface": ("train", "val"), "fer2013": ("train", "test"), "ferplus": ("train", "test"),
    "fairface_race": ("train", "val"), "cub": ("train", "test"),
}


def default_folder(name: str, data_root: str) -> str:
  """Where evaluation ``name`` is looked for: ``data_root/<its folder in plugins.py>``."""
  plugins.check(plugins.EVAL_DATASETS, name, "eval.tasks")
  return os.path.join(os.path.expanduser(data_root), plugins.EVAL_DATASETS[name][1])


def load(name: str, data_root: str, *, split: str | None = None, fixed_grammar: bool = False,
         paper_protocol: bool = False, root: str | None = None) -> EvalDataset:
  """Reads evaluation ``name`` from ``root`` or ``data_root/<default folder>``."""
  reader = plugins.load(plugins.EVAL_DATASETS, name, "eval.tasks")
  path = root or default_folder(name, data_root)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"{name}: dataset folder {path} does not exist. Put the dataset there in its native "
        f"layout (README: 'Zero-shot evaluation') or set config.eval.data_root.")
  kwargs = {"fixed_grammar": fixed_grammar, "paper_protocol": paper_protocol}
  if split is not None:
    kwargs["split"] = split
  return reader(path, **kwargs)


__all__ = ["EvalDataset", "Example", "default_folder", "PAPER_EVALUATIONS", "PROBE_SPLITS",
           "load", "load_class_prompts"]
