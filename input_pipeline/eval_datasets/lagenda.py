"""LAGENDA: top-1 age-group classification of person (LG-B) or face (LG-F) crops.

LAGENDA is the MiVOLO authors' benchmark (https://github.com/WildChlamydia/MiVOLO, "LAGENDA
dataset"; request the download there). Layout under the dataset folder::

  <root>/lagenda_annotation.csv   (or annotations.csv, the reference's name, or either under
                                   annotations/)
  <root>/<img_name>               # img_name as written in the CSV, relative to the root;
                                  # <root>/images/<base name> is tried as well (the reference)

CSV columns: img_name, age, gender, face_x0, face_y0, face_x1, face_y1, person_x0, person_y0,
person_x1, person_y1 (boxes in pixels, [x0, y0, x1, y1]; ages may be floats). As in the
reference, rows where **any** column equals -1 (a missing face or body box, or age) are
dropped for both tasks, and rows whose image is missing are skipped; both are counted in
``info``. The paper evaluates the whole file (there is no split).

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
CSV_CANDIDATES = ("lagenda_annotation.csv", "annotations.csv",
                  os.path.join("annotations", "lagenda_annotation.csv"),
                  os.path.join("annotations", "annotations.csv"))
_HINT = ("Get LAGENDA from https://github.com/WildChlamydia/MiVOLO and put "
         "lagenda_annotation.csv and the images it lists (img_name, relative to the folder) "
         "in the dataset folder.")


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
  if split not in SPLITS:
    raise ValueError(f"{name}: LAGENDA has no splits; split must be 'all', got {split!r}")
  candidates = [os.path.join(root, c) for c in CSV_CANDIDATES]
  csv_path = next((p for p in candidates if os.path.isfile(p)), None)
  if csv_path is None:
    require(candidates, name, f"Any one of these will do. {_HINT}")
  needed = ("img_name", "age") + BOX_COLUMNS["face"] + BOX_COLUMNS["person"]
  examples, rows, minus_one, missing, bad_value = [], 0, 0, [], 0
  with open(csv_path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    absent = [c for c in needed if c not in fields]
    if absent:
      raise ValueError(f"{name}: {csv_path} lacks columns {absent} (has {fields})")
    for raw in reader:
      row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
      rows += 1
      if any(_is_minus_one(v) for v in row.values()):
        minus_one += 1
        continue
      try:
        age = float(row["age"])
        box = tuple(float(row[c]) for c in BOX_COLUMNS[kind])
      except ValueError:
        bad_value += 1
        continue
      path = _resolve(root, row["img_name"])
      if path is None:
        missing.append(row["img_name"])
        continue
      examples.append(Example(source=path, label=age_group(age), box=box))
  if not examples:
    raise FileNotFoundError(
        f"{name}: no usable row in {csv_path} ({rows} rows, {minus_one} with -1, "
        f"{len(missing)} whose image is missing under {root}, e.g. {missing[:3]}). {_HINT}")
  info = {
      "split": split,
      "layout": "LAGENDA: lagenda_annotation.csv (img_name relative to the root, face_* and "
                "person_* boxes [x0, y0, x1, y1])",
      "root": root,
      "annotation": csv_path,
      "crop": f"{kind} box",
      "num_examples": len(examples),
      "num_rows": rows,
      "dropped": {"any_column_minus_one": minus_one, "missing_image": len(missing),
                  "unparsable_value": bad_value},
      "age_bins": "kid <=12, teenager 13-19, adult >=20 (float ages: <=12, <=19, else)",
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
  }
  prompts = [[class_prompt(c, fixed_grammar)] for c in CLASSNAMES]
  return EvalDataset(name=name, task="age", classnames=list(CLASSNAMES), prompts=prompts, k=1,
                     examples=examples, info=info)


def lagenda_body(root: str, *, split: str = "all", fixed_grammar: bool = False,
                 paper_protocol: bool = False) -> EvalDataset:
  """LAGENDA person crops (LG-B): task 'age', k=1; see the module docstring."""
  return _lagenda(root, "person", split, fixed_grammar, paper_protocol)


def lagenda_face(root: str, *, split: str = "all", fixed_grammar: bool = False,
                 paper_protocol: bool = False) -> EvalDataset:
  """LAGENDA face crops (LG-F): task 'age', k=1; see the module docstring."""
  return _lagenda(root, "face", split, fixed_grammar, paper_protocol)
