"""FairFace: top-1 race classification of face images (docs/method.md §6.1).

Native layout (https://github.com/joojs/fairface: an image zip, padding 0.25
``fairface-img-margin025-trainval.zip`` or padding 1.25 ``fairface-img-margin125-trainval.zip``,
and the two label CSVs)::

  <root>/fairface_label_val.csv     # file,age,gender,race,service_test ; file = val/1.jpg
  <root>/fairface_label_train.csv   # file = train/1.jpg
  <root>/val/1.jpg ...  <root>/train/1.jpg ...

``file`` is relative to the image folder, which is looked for in this order: ``<root>`` (the
zip extracted in place), ``<root>/fairface-img-margin025-trainval/`` or
``<root>/fairface-img-margin125-trainval/`` (the zip extracted into a folder of its own
name), ``<root>/images/`` (the reference's layout, with ``annotations/<split>.csv``). The
first of them holding a ``<split>/`` folder is used; two margin folders side by side are an
error (say which to use by removing or moving one), since the padding changes the images.
``info["image_folder"]`` and ``info["padding"]`` say which was read. Which padding the paper
used (0.25 or 1.25) is unknown (docs/method.md §8 item 9); the images are used whole, no crop.

Classes, sorted as the reference sorts the CSV's values: Black, East Asian, Indian,
Latino_Hispanic, Middle Eastern, Southeast Asian, White. Prompt, verbatim from the reference:
``"a photo of a {race lower} person"``. Its article test looks at the first letter of the
upper-case name, so it never says "an" ("a photo of a east asian person", "a photo of a
latino_hispanic person"). ``fixed_grammar=True`` gives "an east asian person", "an indian
person" and "a latino hispanic person".
"""

from __future__ import annotations

import csv
import os

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

CLASSNAMES = ["Black", "East Asian", "Indian", "Latino_Hispanic", "Middle Eastern",
              "Southeast Asian", "White"]
SPLITS = ("train", "val")
MARGIN_FOLDERS = {"fairface-img-margin025-trainval": "0.25",
                  "fairface-img-margin125-trainval": "1.25"}
_LAYOUT = ("<root>/fairface_label_<split>.csv + <root>/<split>/*.jpg (or "
           "<root>/fairface-img-margin025-trainval/<split>/*.jpg, or the margin125 folder)")
_HINT = (f"Expected layout: {_LAYOUT}. Download an image zip "
         "(fairface-img-margin025-trainval.zip or fairface-img-margin125-trainval.zip) and "
         "fairface_label_{train,val}.csv from https://github.com/joojs/fairface into the "
         "dataset folder and extract the zip there.")


def _article(word: str) -> str:
  return "an" if word[:1].lower() in "aeiou" else "a"


def class_prompt(race: str, fixed_grammar: bool = False) -> str:
  if fixed_grammar:
    name = race.replace("_", " ").lower()
    return f"a photo of {_article(name)} {name} person"
  # The reference tests race[0] in 'aeiou' on the capitalised name: always "a".
  article = "an" if race[0] in "aeiou" else "a"
  return f"a photo of {article} {race.lower()} person"


def _find_csv(root: str, split: str) -> str:
  candidates = [os.path.join(root, f"fairface_label_{split}.csv"),
                os.path.join(root, "annotations", f"{split}.csv")]
  for path in candidates:
    if os.path.isfile(path):
      return path
  require(candidates, "fairface_race",
          f"Either file will do (the second is the reference's layout). {_HINT}")
  raise AssertionError("unreachable")


def image_folder(root: str, split: str) -> tuple[str, str]:
  """(folder the CSV's ``file`` paths are relative to, padding) of ``split``; see the docstring.

  Raises:
    FileNotFoundError when no candidate folder holds ``<split>/``; ValueError when both
    margin folders do.
  """
  margins = [m for m in MARGIN_FOLDERS if os.path.isdir(os.path.join(root, m, split))]
  if len(margins) > 1:
    raise ValueError(
        f"fairface_race: both {os.path.join(root, margins[0])} and "
        f"{os.path.join(root, margins[1])} hold {split}/ (paddings 0.25 and 1.25); keep one "
        "of them in the dataset folder (the padding changes the images).")
  candidates = [(root, "unknown")] + [(os.path.join(root, m), MARGIN_FOLDERS[m])
                                      for m in MARGIN_FOLDERS]
  candidates.append((os.path.join(root, "images"), "unknown"))
  for folder, padding in candidates:
    if os.path.isdir(os.path.join(folder, split)):
      return folder, padding
  raise FileNotFoundError(
      f"fairface_race: no image folder {split}/ in {root} (looked for "
      + ", ".join(os.path.join(f, split) for f, _ in candidates) + f"). {_HINT}")


def _resolve(folder: str, split: str, rel: str) -> str | None:
  for path in (os.path.join(folder, rel), os.path.join(folder, split, os.path.basename(rel))):
    if os.path.isfile(path):
      return path
  return None


def fairface_race(root: str, *, split: str = "val", fixed_grammar: bool = False,
                  paper_protocol: bool = False) -> EvalDataset:
  """Reads FairFace ``split`` ('val', the paper's, or 'train'); see the module docstring.

  Args:
    root: the dataset folder.
    split: 'val' or 'train'.
    fixed_grammar: proper articles and no underscore in the prompts.
    paper_protocol: unused (the default already follows the reference).

  Returns:
    The EvalDataset (task 'race', k=1, whole face images).
  """
  if split not in SPLITS:
    raise ValueError(f"fairface_race: split must be one of {SPLITS}, got {split!r}")
  csv_path = _find_csv(root, split)
  folder, padding = image_folder(root, split)
  index = {c: i for i, c in enumerate(CLASSNAMES)}
  examples, missing, unknown, rows = [], [], {}, 0
  with open(csv_path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    if "file" not in fields or "race" not in fields:
      raise ValueError(f"fairface_race: {csv_path} needs columns 'file' and 'race', "
                       f"has {fields}")
    for raw in reader:
      row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
      rows += 1
      race = row["race"]
      if race not in index:
        unknown[race] = unknown.get(race, 0) + 1
        continue
      path = _resolve(folder, split, row["file"])
      if path is None:
        missing.append(row["file"])
        continue
      examples.append(Example(source=path, label=index[race]))
  if unknown:
    raise ValueError(f"fairface_race: {csv_path} has races outside {CLASSNAMES}: {unknown}")
  if not examples:
    raise FileNotFoundError(
        f"fairface_race: none of the {rows} images of {csv_path} exists in {folder} (looked "
        f"for <folder>/<file> and <folder>/{split}/<name>, e.g. {missing[:3]}). {_HINT}")
  info = {
      "split": split,
      "layout": _LAYOUT,
      "root": root,
      "image_folder": folder,
      "padding": padding,
      "annotation": csv_path,
      "crop": "none (whole face image)",
      "num_examples": len(examples),
      "num_rows": rows,
      "dropped": {"missing_image": len(missing)},
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
  }
  prompts = [[class_prompt(c, fixed_grammar)] for c in CLASSNAMES]
  return EvalDataset(name="fairface_race", task="race", classnames=list(CLASSNAMES),
                     prompts=prompts, k=1, examples=examples, info=info)
