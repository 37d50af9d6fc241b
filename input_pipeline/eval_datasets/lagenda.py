"""LAGENDA: top-1 age-group classification of person (LG-B) or face (LG-F) crops.

LAGENDA is the MiVOLO authors' benchmark (https://github.com/WildChlamydia/MiVOLO, "LAGENDA
dataset"; request the download there). Layout under the dataset folder::

  <root>/lagenda_annotation.csv   (or annotations.csv, the reference's name, or either under
                                   annotations/)
  <root>/<img_name>               # img_name as written in the CSV, relative to the root;
                                  # <root>/images/<base name> is tried as well (the reference)

CSV columns, in the release's order (MiVOLO's ``tools/preparation_utils.py`` writes them):
img_name, age, gender, face_x0, face_y0, face_x1, face_y1, person_x0, person_y0, person_x1,
person_y1 (boxes in pixels, [x0, y0, x1, y1]; ages may be floats; -1 marks a missing value).
Extra columns are ignored; columns the task does not use may be absent.

Rows dropped, each counted by reason in ``info["dropped"]`` (with ``info["drop_rule"]``): a row
whose age is -1, or whose box *for this task* has a -1 (the person box for ``lagenda_body``,
the face box for ``lagenda_face``); a row with an unparsable age or box; a row whose image is
missing. A gender of -1 never drops a row: gender is unused, and the reference's filter
``df[(df != -1).all(1)]`` compares the string gender column with the number -1, which is
never equal. That filter does drop a row when *either* box has a -1, whatever the task;
``paper_protocol=True`` does the same (a -1 face box also drops the row from LG-B, and a -1
person box from LG-F). The paper evaluates the whole file (there is no split).

``lagenda_body`` crops the person box, ``lagenda_face`` the face box (``Example.box``).
Classes (docs/method.md §6.1): kid (age <= 12), teenager (12 < age <= 19), adult (age > 19).
Prompt, verbatim from the reference: ``"a photo of a {group} person"`` ("a photo of a adult
person"); ``fixed_grammar=True`` gives "a photo of an adult person".
"""

from __future__ import annotations

import csv
import os

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

CLASSNAMES = ["kid", "teenager", "adult"]
SPLITS = ("all",)
BOX_COLUMNS = {
    "face": ("face_x0", "face_y0", "face_x1", "face_y1"),
    "person": ("person_x0", "person_y0", "person_x1", "person_y1"),
}
CSV_HEADER = ("img_name", "age", "gender") + BOX_COLUMNS["face"] + BOX_COLUMNS["person"]
CSV_CANDIDATES = ("lagenda_annotation.csv", "annotations.csv",
                  os.path.join("annotations", "lagenda_annotation.csv"),
                  os.path.join("annotations", "annotations.csv"))
_LAYOUT = ("<root>/lagenda_annotation.csv (img_name relative to <root>, face_* and person_* "
           "boxes [x0, y0, x1, y1]) + the images it names, e.g. <root>/images/*.jpg")
_HINT = (f"Expected layout: {_LAYOUT}. Get LAGENDA (lagenda_annotation.csv and "
         "lagenda_benchmark_images.zip) from https://github.com/WildChlamydia/MiVOLO and put "
         "both, the zip extracted, in the dataset folder.")


def age_group(age: float) -> int:
  """Label id: kid if age <= 12, teenager if age <= 19, else adult (the reference's tests)."""
  if age <= 12:
    return 0
  if age <= 19:
    return 1
  return 2


def _article(word: str) -> str:
  return "an" if word[:1].lower() in "aeiou" else "a"


def class_prompt(group: str, fixed_grammar: bool = False) -> str:
  return f"a photo of {_article(group) if fixed_grammar else 'a'} {group} person"


def _is_minus_one(value: str) -> bool:
  try:
    return float(value) == -1.0
  except ValueError:
    return False


def _resolve(root: str, rel: str) -> str | None:
  parts = rel.replace("\\", "/").split("/")
  tries = [os.path.join(root, *parts[i:]) for i in range(len(parts))]
  tries.append(os.path.join(root, "images", parts[-1]))
  return next((p for p in tries if os.path.isfile(p)), None)


def _lagenda(root: str, kind: str, split: str, fixed_grammar: bool,
             paper_protocol: bool) -> EvalDataset:
  name = {"person": "lagenda_body", "face": "lagenda_face"}[kind]
  other = {"person": "face", "face": "person"}[kind]
  if split not in SPLITS:
    raise ValueError(f"{name}: LAGENDA has no splits; split must be 'all', got {split!r}")
  candidates = [os.path.join(root, c) for c in CSV_CANDIDATES]
  csv_path = next((p for p in candidates if os.path.isfile(p)), None)
  if csv_path is None:
    require(candidates, name, f"Any one of these will do. {_HINT}")
  # Columns whose -1 drops a row, checked in this order (the first one decides the reason).
  decisive = {"age": ("age",), f"{kind}_box": BOX_COLUMNS[kind]}
  if paper_protocol:  # The reference's filter: the other box's -1 drops the row too.
    decisive[f"{other}_box"] = BOX_COLUMNS[other]
  needed = ("img_name",) + tuple(c for cols in decisive.values() for c in cols)
  dropped = {f"{reason}_minus_one": 0 for reason in decisive}
  dropped.update(unparsable_value=0, missing_image=0)
  examples, rows, missing, gender_minus_one = [], 0, [], 0
  with open(csv_path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    absent = [c for c in needed if c not in fields]
    if absent:
      raise ValueError(f"{name}: {csv_path} lacks columns {absent} (has {fields}); expected "
                       f"the LAGENDA header {','.join(CSV_HEADER)}")
    for raw in reader:
      row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
      rows += 1
      reason = next((r for r, cols in decisive.items()
                     if any(_is_minus_one(row[c]) for c in cols)), None)
      if reason is not None:
        dropped[f"{reason}_minus_one"] += 1
        continue
      try:
        age = float(row["age"])
        box = tuple(float(row[c]) for c in BOX_COLUMNS[kind])
      except ValueError:
        dropped["unparsable_value"] += 1
        continue
      path = _resolve(root, row["img_name"])
      if path is None:
        dropped["missing_image"] += 1
        missing.append(row["img_name"])
        continue
      gender_minus_one += _is_minus_one(row.get("gender", ""))
      examples.append(Example(source=path, label=age_group(age), box=box))
  if not examples:
    raise FileNotFoundError(
        f"{name}: no usable row in {csv_path} ({rows} rows; dropped: {dropped}; missing "
        f"images e.g. {list(dict.fromkeys(missing))[:3]}, looked for <root>/<img_name> and "
        f"<root>/images/<base name>). {_HINT}")
  info = {
      "split": split,
      "layout": _LAYOUT,
      "root": root,
      "annotation": csv_path,
      "crop": f"{kind} box",
      "num_examples": len(examples),
      "num_rows": rows,
      "dropped": dropped,
      "drop_rule": (
          f"a row is dropped when {' or '.join(f'its {r}' for r in decisive)} has a -1 "
          + ("(the reference's filter: both boxes, whatever the task)" if paper_protocol else
             f"(only what {name} uses; paper_protocol=True also drops a -1 {other} box, "
             "as the reference does)")
          + "; a gender of -1 never drops a row (the reference compares the string column)"),
      "kept_with_gender_minus_one": gender_minus_one,
      "age_bins": "kid <=12, teenager 13-19, adult >=20 (float ages: <=12, <=19, else)",
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
  }
  prompts = [[class_prompt(c, fixed_grammar)] for c in CLASSNAMES]
  return EvalDataset(name=name, task="age", classnames=list(CLASSNAMES), prompts=prompts, k=1,
                     examples=examples, info=info)


def lagenda_body(root: str, *, split: str = "all", fixed_grammar: bool = False,
                 paper_protocol: bool = False) -> EvalDataset:
  """LAGENDA person crops (LG-B): task 'age', k=1; see the module docstring.

  ``paper_protocol``: also drop rows whose face box has a -1 (the reference's filter).
  """
  return _lagenda(root, "person", split, fixed_grammar, paper_protocol)


def lagenda_face(root: str, *, split: str = "all", fixed_grammar: bool = False,
                 paper_protocol: bool = False) -> EvalDataset:
  """LAGENDA face crops (LG-F): task 'age', k=1; see the module docstring.

  ``paper_protocol``: also drop rows whose person box has a -1 (the reference's filter).
  """
  return _lagenda(root, "face", split, fixed_grammar, paper_protocol)
