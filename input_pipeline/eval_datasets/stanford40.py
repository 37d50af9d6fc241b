"""Stanford 40 Actions: top-3 action classification on the full image (docs/method.md §6.1).

Native layout (http://vision.stanford.edu/Datasets/40actions.html; download
``Stanford40_JPEGImages.zip`` and ``Stanford40_ImageSplits.zip``, unzipped side by side)::

  <root>/JPEGImages/applauding_001.jpg ...
  <root>/ImageSplits/actions.txt       # "action_name<TAB>number_of_images" header, then one
                                       # "<name><TAB><count>" line per class (alphabetical)
  <root>/ImageSplits/test.txt          # image file names, one per line (5,532 images)
  <root>/ImageSplits/train.txt         # (4,000 images)

``XMLAnnotations/`` (person boxes) is not needed: the reference parses the box but classifies
the **full image**. The label of ``<name>_<NNN>.jpg`` is the index of ``<name>`` in
``actions.txt`` (the reference takes it from the XML, which holds the same name).

Prompts: ``"a photo of a person {name with '_' -> ' ', lower-cased}"``, built from the same
class list as the label ids. The reference built them from ``list(set(actions))``, an order
that differs from the label ids, so its published Stanford40 numbers score misaligned prompts
(docs/method.md §6.2). ``paper_protocol=True`` emulates that bug with a fixed permutation: the
prompt of class ``i`` is the prompt of ``classnames[perm[i]]`` with
``perm = numpy.random.default_rng(0).permutation(num_classes)`` (recorded in ``info``); labels
are unchanged.
"""

from __future__ import annotations

import os
import re

import numpy as np

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

TEMPLATE = "a photo of a person {}"
PAPER_PERMUTATION_SEED = 0
SPLITS = ("train", "test")
_HINT = ("Download Stanford40_JPEGImages.zip and Stanford40_ImageSplits.zip from "
         "http://vision.stanford.edu/Datasets/40actions.html and unzip both into the dataset "
         "folder (JPEGImages/, ImageSplits/).")
_NAME_RE = re.compile(r"^(.+)_(\d+)\.jpg$", re.IGNORECASE)


def read_actions(path: str) -> list[str]:
  """Class names of ``actions.txt``, in file order (with or without header and counts)."""
  names = []
  with open(path, encoding="utf-8") as f:
    for i, line in enumerate(f):
      fields = line.split()
      if not fields:
        continue
      if i == 0 and fields[0].lower() == "action_name":
        continue
      names.append(fields[0])
  if len(set(names)) != len(names):
    raise ValueError(f"stanford40: duplicate class names in {path}")
  return names


def class_prompt(name: str) -> str:
  return TEMPLATE.format(name.replace("_", " ").lower())


def stanford40(root: str, *, split: str = "test", fixed_grammar: bool = False,
               paper_protocol: bool = False) -> EvalDataset:
  """Reads Stanford 40 Actions ``split`` ('test' or 'train'); see the module docstring.

  Args:
    root: the dataset folder (JPEGImages/, ImageSplits/).
    split: 'test' (the paper's) or 'train'.
    fixed_grammar: unused (the template has no article to fix).
    paper_protocol: emulate the reference's prompt/label misalignment (fixed permutation).

  Returns:
    The EvalDataset (task 'action', k=3, full images).
  """
  if split not in SPLITS:
    raise ValueError(f"stanford40: split must be one of {SPLITS}, got {split!r}")
  images_dir = os.path.join(root, "JPEGImages")
  actions_path = os.path.join(root, "ImageSplits", "actions.txt")
  split_path = os.path.join(root, "ImageSplits", f"{split}.txt")
  require([images_dir, actions_path, split_path], "stanford40", _HINT)

  classnames = read_actions(actions_path)
  index = {c: i for i, c in enumerate(classnames)}
  examples, missing, unknown, bad_names = [], [], [], []
  with open(split_path, encoding="utf-8") as f:
    files = [line.strip() for line in f if line.strip()]
  for file_name in files:
    m = _NAME_RE.match(os.path.basename(file_name))
    if not m:
      bad_names.append(file_name)
      continue
    action = m.group(1)
    if action not in index:
      unknown.append(file_name)
      continue
    path = os.path.join(images_dir, file_name)
    if not os.path.exists(path):
      missing.append(file_name)
      continue
    examples.append(Example(source=path, label=index[action]))
  if unknown or bad_names:
    raise ValueError(
        f"stanford40: {split_path} has {len(bad_names)} names not of the form "
        f"<action>_<NNN>.jpg (e.g. {bad_names[:3]}) and {len(unknown)} whose action is not in "
        f"{actions_path} (e.g. {unknown[:3]}).")
  if not examples:
    raise FileNotFoundError(
        f"stanford40: none of the {len(files)} images listed in {split_path} exists in "
        f"{images_dir}. {_HINT}")

  prompts = [[class_prompt(c)] for c in classnames]
  info = {
      "split": split,
      "layout": "Stanford40 native: JPEGImages/*.jpg, ImageSplits/{actions,<split>}.txt",
      "root": root,
      "crop": "none (full image)",
      "num_examples": len(examples),
      "num_listed": len(files),
      "dropped": {"missing_image": len(missing)},
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
      "prompt_permutation": None,
  }
  if paper_protocol:
    perm = np.random.default_rng(PAPER_PERMUTATION_SEED).permutation(len(classnames))
    prompts = [[class_prompt(classnames[j])] for j in perm]
    info["prompt_permutation"] = [int(j) for j in perm]
    info["prompt_permutation_rule"] = (
        f"prompt of class i = prompt of classnames[perm[i]], perm = "
        f"numpy.random.default_rng({PAPER_PERMUTATION_SEED}).permutation({len(classnames)}); "
        "emulates the reference's list(set(...)) prompt order (docs/method.md §6.2)")
  return EvalDataset(name="stanford40", task="action", classnames=classnames, prompts=prompts,
                     k=3, examples=examples, info=info)
