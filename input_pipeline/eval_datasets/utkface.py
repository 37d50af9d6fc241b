"""UTKFace: top-1 age-group classification of aligned and cropped face chips (docs/method.md §6.1).

Native layout (https://susanqq.github.io/UTKFace/, "Aligned&Cropped Faces", ``UTKFace.tar.gz``)::

  <root>/images/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg   (or anywhere under <root>:
                                                                 e.g. <root>/UTKFace/...)
  <root>/annotations/<split>.csv     # the split: a CSV with a column img_name

The age is parsed from the file name (the first ``_``-separated field; names whose age does
not parse are skipped and counted; gender and race are not needed, so the few release files
without a race field are kept). UTKFace has no official split: the reference evaluates a
custom ``annotations/val.csv`` of unknown origin (docs/method.md §8 item 8; possibly the
MiVOLO authors' UTKFace CSVs). Its ``img_name`` entries are matched by base name, with
``.chip.jpg`` appended as the reference does when missing. ``split='all'`` (not the paper's
protocol) evaluates every chip found instead.

Classes: baby (0-2), child (3-9), teenager (10-19), young adult (20-29), adult (>=30).
Prompt, verbatim from the reference: ``"a photo of a {group} person"`` ("a photo of a adult
person"); ``fixed_grammar=True`` gives "a photo of an adult person".
"""

from __future__ import annotations

import csv
import os
import re

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

CLASSNAMES = ["baby", "child", "teenager", "young adult", "adult"]
_AGE_RE = re.compile(r"^(\d{1,3})_")
_HINT = ("Download UTKFace 'Aligned&Cropped Faces' from https://susanqq.github.io/UTKFace/ "
         "into the dataset folder (images/ or UTKFace/).")


def age_group(age: float) -> int:
  """Label id of an age: <=2 baby, <=9 child, <=19 teenager, <=29 young adult, else adult."""
  age = int(age)
  for i, upper in enumerate((2, 9, 19, 29)):
    if age <= upper:
      return i
  return 4


def parse_age(name: str) -> int | None:
  m = _AGE_RE.match(os.path.basename(name))
  return int(m.group(1)) if m else None


def _article(word: str) -> str:
  return "an" if word[:1].lower() in "aeiou" else "a"


def class_prompt(group: str, fixed_grammar: bool = False) -> str:
  return f"a photo of {_article(group) if fixed_grammar else 'a'} {group} person"


def _index_images(root: str) -> dict[str, str]:
  """{base name: path} of the .jpg files under root; images/ first, then sorted paths."""
  found = []
  for dirpath, _, files in os.walk(root):
    for name in files:
      if name.lower().endswith(".jpg"):
        found.append(os.path.join(dirpath, name))
  images_dir = os.path.join(root, "images") + os.sep
  found.sort(key=lambda p: (not p.startswith(images_dir), p))
  index: dict[str, str] = {}
  for path in found:
    index.setdefault(os.path.basename(path), path)
  return index


def _read_list(path: str) -> list[str]:
  with open(path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    if "img_name" not in fields:
      raise ValueError(f"utkface: {path} needs a column 'img_name', has {fields}")
    return [row["img_name"].strip() for row in
            ({k.strip(): (v or "") for k, v in r.items() if k is not None} for r in reader)
            if row["img_name"].strip()]


def utkface_age(root: str, *, split: str = "val", fixed_grammar: bool = False,
                paper_protocol: bool = False) -> EvalDataset:
  """Reads the UTKFace chips of ``split``; see the module docstring.

  Args:
    root: the dataset folder.
    split: the name of ``annotations/<split>.csv`` ('val' is the paper's), or 'all'.
    fixed_grammar: "an adult" instead of the reference's "a adult".
    paper_protocol: unused (the default already follows the reference).

  Returns:
    The EvalDataset (task 'age', k=1, whole face chips).
  """
  list_path = os.path.join(root, "annotations", f"{split}.csv")
  if split != "all" and not os.path.isfile(list_path):
    raise FileNotFoundError(
        f"utkface: missing the split file {list_path}. UTKFace has no official split; the "
        f"reference evaluates a custom annotations/{split}.csv (a CSV with a column img_name "
        "listing the <age>_<gender>_<race>_<datetime>.jpg.chip.jpg face chips) whose origin is "
        "unknown (docs/method.md §8 item 8). Put such a list there (e.g. built from the MiVOLO "
        "authors' UTKFace CSVs, or your own split, documented), or use split='all' to "
        "evaluate every chip.")
  require([root], "utkface", _HINT)
  index = _index_images(root)
  if split == "all":
    names = sorted(n for n in index if n.lower().endswith(".chip.jpg")) or sorted(index)
    listed = len(names)
  else:
    names = _read_list(list_path)
    listed = len(names)

  examples, missing, unparsed = [], [], []
  for entry in names:
    base = os.path.basename(entry)
    tries = [base] if base.endswith(".chip.jpg") else [base + ".chip.jpg", base]
    path = next((index[n] for n in tries if n in index), None)
    if path is None:
      missing.append(entry)
      continue
    age = parse_age(path)
    if age is None:
      unparsed.append(entry)
      continue
    examples.append(Example(source=path, label=age_group(age)))
  if not examples:
    raise FileNotFoundError(
        f"utkface: none of the {listed} listed images was found under {root} with a parsable "
        f"<age>_... name (e.g. {(missing or unparsed)[:3]}). {_HINT}")
  info = {
      "split": split,
      "layout": "UTKFace aligned&cropped chips <age>_<gender>_<race>_<date>.jpg.chip.jpg "
                "+ annotations/<split>.csv (img_name)",
      "root": root,
      "annotation": None if split == "all" else list_path,
      "crop": "none (aligned face chip)",
      "num_examples": len(examples),
      "num_listed": listed,
      "dropped": {"missing_image": len(missing), "unparsed_name": len(unparsed)},
      "age_bins": "baby 0-2, child 3-9, teenager 10-19, young adult 20-29, adult >=30",
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
  }
  prompts = [[class_prompt(c, fixed_grammar)] for c in CLASSNAMES]
  return EvalDataset(name="utkface", task="age", classnames=list(CLASSNAMES), prompts=prompts,
                     k=1, examples=examples, info=info)
