"""EMOTIC (EMOTions In Context): zero-shot age group (top-1) and emotion (top-3) of people.

docs/method.md §6.1: the reference converts EMOTIC's MATLAB annotations (``train`` only) into one
sample per annotated person, crops the image to the person's ``body_bbox`` [x1, y1, x2, y2],
and scores

* age: classes sorted [Adult, Kid, Teenager], prompt "a photo of a {age lower} person"
  verbatim ("a photo of a adult person"; ``fixed_grammar``: "a photo of an adult person"), k=1;
* emotion: the 26 EMOTIC categories sorted alphabetically (``CATEGORIES``), prompt "a photo of a
  person who is feeling {category lower}" (e.g. "... feeling doubt/confusion"; ``fixed_grammar``
  changes nothing), k=3. The label is the person's **first** category (the reference's
  ``.mat`` indexing keeps only that one); ``Example.labels`` holds all of them
  (``multilabel=True``) so that "any of the labels in the top 3" can be reported too
  (docs/method.md §8 item 10).

Download: http://sunai.uoc.edu/emotic/ (or the links in https://github.com/rkosti/emotic), then
``root`` holds (the two usual arrangements are both accepted)::

  Annotations/Annotations.mat     (or Annotations.mat; CVPR17_Annotations.mat also accepted)
  mscoco/images/COCO_train2014_000000000001.jpg ...   (also under root/emotic/...)
  framesdb/images/  ade20k/images/  emodb_small/images/

``Annotations.mat`` holds variables 'train', 'val', 'test', each a 1 x N struct array (one
entry per image) with fields filename, folder, image_size (n_col, n_row), original_database,
person; ``person`` is a 1 x P struct array:

* train: body_bbox [x1 y1 x2 y2], annotations_categories (1 x 1 struct, field ``categories``:
  1 x K cell of strings), annotations_continuous (valence, arousal, dominance), gender, age;
* val / test: body_bbox, annotations_categories (1 x A struct, one per annotator),
  combined_categories (1 x K cell: the annotators' categories combined),
  annotations_continuous (1 x A), combined_continuous, gender, age.

val / test (several annotators; not used by the reference): label = the first category of the
first annotator with any category (what the reference's indexing would take), labels = that
label followed by ``combined_categories`` (or, if absent, the union of the annotators'
categories in annotator order). The reader normalises whatever ``scipy.io.loadmat`` returns
(any squeeze_me / struct_as_record setting) into dicts and lists before reading fields.

``paper_protocol=True``: prefer ``CVPR17_Annotations.mat`` (the file the reference converted) over
``Annotations.mat`` when both exist, and take the class list from the data like the reference
(``sorted(set(labels))``; on the full train split this is the same 3 / 26 classes).

JSON alternative (``<root>/annotations/<split>.json``, used when no ``.mat`` is found): a list of
images ``{"filename": str, "folder": str, "person": [person, ...]}`` with person =
``{"body_bbox": [x1, y1, x2, y2], "categories": [str, ...], "age": str}``, optionally
``"combined_categories": [str, ...]`` and ``"gender": str``; "categories" may also be a list of
per-annotator lists (val / test). The reference converter's own output
``<root>/annotations_<split>.json`` (``{"image_name", "image_folder", "emotion_data": [{"bbox",
"categories": str, "age", ...}]}``) is accepted too. Images: ``<root>/<folder>/<filename>`` or
``<root>/emotic/<folder>/<filename>``.

Dropped (counted in ``info['dropped']``): people without a usable box (not 4 numbers), without
an age in {Adult, Kid, Teenager} (age task), without a known category (emotion task), and people
whose image file is missing.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

AGES = ("Adult", "Kid", "Teenager")
CATEGORIES = (
    "Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence", "Disapproval",
    "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem",
    "Excitement", "Fatigue", "Fear", "Happiness", "Pain", "Peace", "Pleasure", "Sadness",
    "Sensitivity", "Suffering", "Surprise", "Sympathy", "Yearning",
)
AGE_TEMPLATE = "a photo of a {c} person"
EMOTION_TEMPLATE = "a photo of a person who is feeling {c}"
SPLITS = ("train", "val", "test")

_MAT_NAMES = ("Annotations/Annotations.mat", "Annotations.mat",
              "Annotations/CVPR17_Annotations.mat", "CVPR17_Annotations.mat")
_HINT = ("Download EMOTIC (http://sunai.uoc.edu/emotic/, https://github.com/rkosti/emotic): put "
         "Annotations/Annotations.mat and the image folders (mscoco/, framesdb/, ade20k/, "
         "emodb_small/) in the dataset folder (or the images under <folder>/emotic/), or convert "
         "the annotations to annotations/<split>.json (schema: input_pipeline/eval_datasets/"
         "emotic.py).")


def age_prompt(age: str, fixed_grammar: bool = False) -> str:
  name = age.lower()
  text = AGE_TEMPLATE.format(c=name)
  if fixed_grammar and name[:1] in "aeiou":
    text = text.replace("a photo of a ", "a photo of an ", 1)
  return text


def emotion_prompt(category: str) -> str:
  return EMOTION_TEMPLATE.format(c=category.lower())


# ------------------------------------------------------------------------- .mat normalising


def _to_py(x: Any) -> Any:
  """A loadmat value -> dict (struct) / list (struct array, cell) / str / float ndarray."""
  from scipy.io.matlab import mat_struct  # pylint: disable=g-import-not-at-top  (scipy: .mat only)
  if isinstance(x, mat_struct):
    return {k: _to_py(getattr(x, k)) for k in x._fieldnames}  # pylint: disable=protected-access
  if isinstance(x, dict):
    return {k: _to_py(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_to_py(v) for v in x]
  if isinstance(x, bytes):
    return x.decode("utf-8", "replace")
  if isinstance(x, str):
    return str(x)
  if isinstance(x, np.void) and x.dtype.names:
    return {k: _to_py(x[k]) for k in x.dtype.names}
  if isinstance(x, np.ndarray):
    if x.dtype.names:                               # struct array (struct_as_record=True)
      return [{k: _to_py(r[k]) for k in x.dtype.names} for r in x.reshape(-1, order="F")]
    if x.dtype.kind in "US":                        # char array
      rows = [str(v.decode() if isinstance(v, bytes) else v) for v in x.reshape(-1)]
      return rows[0] if len(rows) == 1 else ("" if not rows else rows)
    if x.dtype.kind == "O":                         # cell array (or squeezed struct array)
      return [_to_py(v) for v in x.reshape(-1, order="F")]
    return np.asarray(x, np.float64).reshape(-1)    # numbers
  if isinstance(x, (np.generic, int, float)):
    return np.asarray(x, np.float64).reshape(-1) if np.asarray(x).dtype.kind in "biuf" else (
        str(x))
  return x


def _as_list(x: Any) -> list:
  """A struct / cell that loadmat may have squeezed to a single element -> a list."""
  if x is None:
    return []
  if isinstance(x, list):
    return x
  if isinstance(x, np.ndarray) and x.size == 0:
    return []
  return [x]


def _str(x: Any) -> str:
  while isinstance(x, list) and len(x) == 1:
    x = x[0]
  if isinstance(x, list):
    return "" if not x else _str(x[0])
  if isinstance(x, np.ndarray):
    return "" if x.size == 0 else str(x.reshape(-1)[0])
  return "" if x is None else str(x).strip()


def _strings(x: Any) -> list[str]:
  """A cell of strings (maybe squeezed to one string, maybe nested) -> list of str."""
  out = []
  for v in _as_list(x):
    if isinstance(v, list):
      out.extend(_strings(v))
    else:
      s = _str(v)
      if s:
        out.append(s)
  return out


def _field(d: dict, *names: str) -> Any:
  for n in names:
    if n in d:
      return d[n]
  return None


def _unwrap(x: Any) -> Any:
  while isinstance(x, list) and len(x) == 1:
    x = x[0]
  return x


def _annotator_categories(ann: Any) -> list[list[str]]:
  """annotations_categories (1 struct, struct array, or JSON lists) -> per-annotator lists."""
  out = []
  for a in _as_list(ann):
    if isinstance(a, dict):
      out.append(_strings(_field(a, "categories", "category")))
    elif isinstance(a, list):           # JSON: a list of per-annotator lists
      out.append(_strings(a))
    else:
      out.append(_strings(a))
  return out


def _person(p: dict) -> dict:
  """A person struct (any variant) or JSON person -> {box, first, labels, age, gender}."""
  box = _field(p, "body_bbox", "bbox")
  box = np.asarray(box if box is not None else [], np.float64).reshape(-1)
  if "annotations_categories" in p:
    annotators = _annotator_categories(p["annotations_categories"])
  else:
    cats = _field(p, "categories", "category")
    if isinstance(cats, list) and cats and all(isinstance(c, list) for c in cats):
      annotators = [_strings(c) for c in cats]
    else:
      annotators = [_strings(cats)]
  annotators = [a for a in annotators if a]
  first = annotators[0][0] if annotators else None
  combined = _strings(p.get("combined_categories"))
  if not combined:
    combined = [c for a in annotators for c in a]
  labels = ([first] if first else []) + [c for c in combined if c != first]
  labels = list(dict.fromkeys(labels))
  age = _unwrap(_field(p, "age", "annotations_age"))
  if isinstance(age, dict):
    age = _field(age, "age", "annotations_age")
  gender = _unwrap(_field(p, "gender", "annotations_gender"))
  if isinstance(gender, dict):
    gender = _field(gender, "gender", "annotations_gender")
  return {"box": box, "first": first, "labels": labels, "age": _str(age),
          "gender": _str(gender)}


def parse_mat_split(value: Any) -> list[dict]:
  """One split variable of Annotations.mat (as loadmat returns it, any options) -> images.

  Returns a list of {"filename", "folder", "people": [person dicts of ``_person``]}.
  """
  images = []
  for img in _as_list(_to_py(value)):
    if not isinstance(img, dict):
      raise ValueError(f"EMOTIC annotations: expected a struct per image, got {type(img)}")
    images.append({"filename": _str(img.get("filename")), "folder": _str(img.get("folder")),
                   "people": [_person(p) for p in _as_list(img.get("person"))
                              if isinstance(p, dict)]})
  return images


def _parse_json(data: Any) -> list[dict]:
  if isinstance(data, dict) and "images" in data:
    data = data["images"]
  if not isinstance(data, list):
    raise ValueError("EMOTIC json: expected a list of images")
  images = []
  for img in data:
    people = _field(img, "person", "people", "emotion_data") or []
    images.append({"filename": _str(_field(img, "filename", "image_name")),
                   "folder": _str(_field(img, "folder", "image_folder")),
                   "people": [_person(p) for p in _as_list(people)]})
  return images


def _load_annotations(root: str, split: str, paper_protocol: bool) -> tuple[list[dict], str]:
  mats = [os.path.join(root, n) for n in _MAT_NAMES]
  if paper_protocol:  # the reference converted CVPR17_Annotations.mat
    mats = mats[2:] + mats[:2]
  jsons = [os.path.join(root, "annotations", f"{split}.json"),
           os.path.join(root, f"annotations_{split}.json")]
  for path in mats:
    if os.path.isfile(path):
      import scipy.io  # pylint: disable=g-import-not-at-top  (scipy: .mat only)
      mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
      if split not in mat:
        raise ValueError(f"emotic: {path} has no variable {split!r} "
                         f"(has {sorted(k for k in mat if not k.startswith('__'))})")
      return parse_mat_split(mat[split]), path
  for path in jsons:
    if os.path.isfile(path):
      with open(path, encoding="utf-8") as f:
        return _parse_json(json.load(f)), path
  require(mats + jsons, "emotic", "Need one of these annotation files. " + _HINT)
  raise AssertionError("unreachable")


def _image_path(root: str, folder: str, filename: str, cache: dict) -> str:
  """<root>/<folder>/<filename>, or under <root>/emotic/ (decided once per folder)."""
  if folder not in cache:
    bases = [root, os.path.join(root, "emotic")]
    cache[folder] = next((b for b in bases if os.path.isdir(os.path.join(b, folder))), root)
  return os.path.join(cache[folder], folder, filename)


def _read(root: str, split: str, task: str, fixed_grammar: bool,
          paper_protocol: bool) -> EvalDataset:
  if split not in SPLITS:
    raise ValueError(f"emotic: split must be one of {SPLITS}, got {split!r}")
  images, source = _load_annotations(root, split, paper_protocol)
  classes = AGES if task == "age" else CATEGORIES
  index = {c: i for i, c in enumerate(classes)}
  dropped = {"bad_box": 0, "missing_image": 0}
  dropped.update({"unknown_age": 0} if task == "age" else
                 {"no_category": 0, "unknown_category": 0})
  rows, cache, exists, num_people = [], {}, {}, 0
  for img in images:
    path = _image_path(root, img["folder"], img["filename"], cache)
    for p in img["people"]:
      num_people += 1
      if p["box"].size != 4 or not np.isfinite(p["box"]).all():
        dropped["bad_box"] += 1
        continue
      if task == "age":
        if p["age"] not in index:
          dropped["unknown_age"] += 1
          continue
        names = [p["age"]]
      else:
        if not p["first"]:
          dropped["no_category"] += 1
          continue
        if p["first"] not in index:
          dropped["unknown_category"] += 1
          continue
        names = [c for c in p["labels"] if c in index]
      if path not in exists:
        exists[path] = os.path.exists(path)
      if not exists[path]:
        dropped["missing_image"] += 1
        continue
      rows.append((path, tuple(float(v) for v in p["box"]), names))
  if not rows and dropped["missing_image"]:
    raise FileNotFoundError(
        f"emotic: none of the images of split {split!r} exist (looked for "
        f"<{root}>/<folder>/<filename> and <{root}>/emotic/<folder>/<filename>). {_HINT}")

  classnames = list(classes)
  if paper_protocol:  # the reference: sorted(set(label names seen))
    classnames = sorted({r[2][0] for r in rows})
    index = {c: i for i, c in enumerate(classnames)}
  examples = []
  for path, box, names in rows:
    ids = tuple(index[c] for c in names if c in index)
    examples.append(Example(source=path, label=ids[0], labels=ids if task == "emotion" else (),
                            box=box))
  if task == "age":
    prompts = [[age_prompt(c, fixed_grammar)] for c in classnames]
  else:
    prompts = [[emotion_prompt(c)] for c in classnames]
  degenerate = sum(1 for e in examples if not (e.box[2] > e.box[0] and e.box[3] > e.box[1]))
  info = {"split": split, "annotations": source, "num_images": len(images),
          "num_people": num_people, "num_examples": len(examples), "dropped": dropped,
          "degenerate_boxes_kept": degenerate, "crop": "body_bbox [x1, y1, x2, y2]",
          "fixed_grammar": fixed_grammar, "paper_protocol": paper_protocol,
          "classes_from_data": paper_protocol}
  if task == "emotion":
    info["label_rule"] = "label = first category; labels = all categories (any-of metric)"
    info["multilabel_people"] = sum(1 for e in examples if len(e.labels) > 1)
  return EvalDataset(
      name=f"emotic_{task}", task=task, classnames=classnames, prompts=prompts,
      k=1 if task == "age" else 3, examples=examples, multilabel=task == "emotion", info=info)


def emotic_age(root: str, *, split: str = "train", fixed_grammar: bool = False,
               paper_protocol: bool = False) -> EvalDataset:
  """EMOTIC age groups of the annotated people (default: the reference's 'train' split)."""
  return _read(root, split, "age", fixed_grammar, paper_protocol)


def emotic_emotion(root: str, *, split: str = "train", fixed_grammar: bool = False,
                   paper_protocol: bool = False) -> EvalDataset:
  """EMOTIC emotion categories (label = first category; all in ``labels``), default 'train'."""
  return _read(root, split, "emotion", fixed_grammar, paper_protocol)
