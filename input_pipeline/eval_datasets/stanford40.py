"""Stanford 40 Actions: top-3 action classification on the full image (docs/method.md §6.1).

Native layout (http://vision.stanford.edu/Datasets/40actions.html; download
``Stanford40_JPEGImages.zip`` and ``Stanford40_ImageSplits.zip``, unzipped side by side)::

  <root>/JPEGImages/applauding_001.jpg ...
  <root>/ImageSplits/actions.txt       # "action_name  number_of_images" header, then one
                                       # "<name>  <count>" line per class (alphabetical);
                                       # a header of any wording, or none, is fine
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
_LAYOUT = ("<root>/JPEGImages/<action>_<NNN>.jpg, <root>/ImageSplits/actions.txt, "
           "<root>/ImageSplits/{train,test}.txt")
_HINT = (f"Expected layout: {_LAYOUT}. Download Stanford40_JPEGImages.zip and "
         "Stanford40_ImageSplits.zip from http://vision.stanford.edu/Datasets/40actions.html "
         "and unzip both into the dataset folder.")
_NAME_RE = re.compile(r"^(.+)_(\d+)\.jpg$", re.IGNORECASE)


def _is_count(field: str) -> bool:
  return field.isdigit()


def read_actions(path: str) -> list[str]:
  """Class names of ``actions.txt``, in file order (see ``parse_actions``)."""
  return parse_actions(path)[0]


def parse_actions(path: str) -> tuple[list[str], str | None]:
  """(class names in file order, the header line skipped or None) of ``actions.txt``.

  The released file starts with a header line (``action_name  number_of_images``) and then
  has one ``<name> <count>`` line per class; a file of bare names (one per line) is read too.
  The first non-empty line is taken to be a header when its second field is not an image
  count, or when it has a single field while every other line has a count; otherwise it is a
  class. (The reference always skips line 1, which would drop a class from a file without
  the header.)
  """
  with open(path, encoding="utf-8-sig") as f:
    rows = [line.split() for line in f if line.strip()]
  if not rows:
    raise ValueError(f"stanford40: {path} is empty; expected 'action_name  number_of_images' "
                     "and one '<name> <count>' line per class (ImageSplits/actions.txt of "
                     "Stanford40_ImageSplits.zip)")
  first, rest = rows[0], rows[1:]
  counted = bool(rest) and all(len(r) >= 2 and _is_count(r[1]) for r in rest)
  header = None
  if (len(first) >= 2 and not _is_count(first[1])) or (len(first) == 1 and counted):
    header, rows = " ".join(first), rest
  names = [r[0] for r in rows]
  dupes = sorted({n for n in names if names.count(n) > 1})
  if dupes:
    raise ValueError(f"stanford40: duplicate class names in {path}: {dupes}")
  return names, header


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

  classnames, header = parse_actions(actions_path)
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
      "layout": _LAYOUT,
      "actions_header": header,  # the first line of actions.txt when it is not a class
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
