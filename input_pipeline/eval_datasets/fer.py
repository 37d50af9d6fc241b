"""FER2013 and FER+: zero-shot facial-emotion classification of 48x48 grey faces (top-3).

FER2013 (docs/method.md §6.1): the reference uses torchvision ``FER2013(split='train')``, i.e. the
28,709 'Training' faces, whole image (grey -> RGB). Native layouts accepted, in ``root`` or
``root/fer2013`` (where torchvision looks), first found wins:

* ``fer2013.csv`` (the original Kaggle / ICML 2013 file): header ``emotion,pixels,Usage``; pixels
  are 2304 space-separated ints (48 x 48, row-major); Usage in {Training, PublicTest,
  PrivateTest}. Split 'train' -> Training (28,709), 'val' -> PublicTest (3,589),
  'test' -> PrivateTest (3,589), 'all'.
* ``icml_face_data.csv``: the same columns (header names with leading spaces, other order).
* ``train.csv`` (Kaggle challenge download; what torchvision reads): ``emotion,pixels``, the 28,709
  Training rows; split 'train' only.

Classes (FER ids 0-6): anger, disgust, fear, happiness, sadness, surprise, neutral. Prompts
"a photo of a(n) {adj} looking face" with adj = angry, disgusted, fearful, happy, sad, surprised,
neutral, "an" only for "angry": "a photo of an angry looking face", "a photo of a disgusted
looking face", ... (the reference's articles are already right: ``fixed_grammar`` changes
nothing). Images are decoded into ``EvalDataset.arrays`` (uint8 [N, 48, 48]); example sources
are indices into it.

FER+ (https://github.com/microsoft/FERPlus): FER2013 faces relabelled by 10 annotators, as written
by FERPlus's ``src/generate_training_data.py`` (``-d <root>``; the repository's ``data/`` folder
also works as root, and ``root/data`` is searched too)::

  FER2013Train/ FER2013Valid/ FER2013Test/
    fer0000000.png ...    48x48 grey PNGs
    label.csv             no header: image_name, face_box "(0, 0, 48, 48)", then 10 vote counts
                          neutral, happiness, surprise, sadness, anger, disgust, fear,
                          contempt, unknown, NF (not a face)

Split 'test' (default, FER2013Test, the reference's), 'val' (FER2013Valid), 'train'. Rows with
NF > 0 are dropped (counted in ``info``, as the reference), and rows whose image file is missing
(counted; FERPlus lists a few faces that ``generate_training_data`` skips). Label = argmax of
the 8 emotion votes, ties to the earliest class (``np.argmax``); rows with no emotion vote at all
(only 'unknown' votes) are kept with label 0 (neutral), as the reference's argmax does, and
counted as ``no_emotion_votes``. Classes: neutral, happiness, surprise, sadness, anger, disgust,
fear, contempt; adjectives neutral, happy, surprised, sad, angry, disgusted, afraid,
contemptuous ("an" for angry and afraid). Whole image; k = 3.
"""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

FER2013_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
FER2013_ADJECTIVES = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt")
FERPLUS_ADJECTIVES = ("neutral", "happy", "surprised", "sad", "angry", "disgusted", "afraid",
                      "contemptuous")
_AN = ("angry", "afraid")  # the reference's "a(n)": "an" only for these adjectives

FER2013_USAGE = {"train": ("Training",), "val": ("PublicTest",), "test": ("PrivateTest",),
                 "all": ("Training", "PublicTest", "PrivateTest")}
FERPLUS_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
_SIDE = 48


def face_prompt(adjective: str) -> str:
  article = "an" if adjective in _AN else "a"
  return f"a photo of {article} {adjective} looking face"


# ---------------------------------------------------------------------------------- FER2013


def _find_fer2013_csv(root: str, split: str) -> str:
  dirs = [root, os.path.join(root, "fer2013")]
  names = ["fer2013.csv", "icml_face_data.csv"] + (["train.csv"] if split == "train" else [])
  candidates = [os.path.join(d, n) for n in names for d in dirs]
  for path in candidates:
    if os.path.isfile(path):
      return path
  require(candidates, "fer2013",
          "Need one of these (any one is enough): the Kaggle 'Challenges in Representation "
          "Learning: Facial Expression Recognition Challenge' fer2013.csv / icml_face_data.csv "
          "(emotion, pixels, Usage) or its train.csv (emotion, pixels; split 'train' only).")
  raise AssertionError("unreachable")


def _decode_pixels(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
  """Space-separated pixel strings -> (uint8 [M, 48, 48] of the good rows, bool [N] good)."""
  n = _SIDE * _SIDE
  out = np.zeros((len(strings), n), np.uint8)
  good = np.zeros(len(strings), bool)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")   # fromstring warns (and stops) at a non-number
    for i, s in enumerate(strings):
      v = np.fromstring(s, dtype=np.int64, sep=" ")   # C parser: no per-number Python
      if v.size == n and v.min() >= 0 and v.max() <= 255:
        out[i], good[i] = v, True
  return out[good].reshape(-1, _SIDE, _SIDE), good


def fer2013(root: str, *, split: str = "train", fixed_grammar: bool = False,
            paper_protocol: bool = False) -> EvalDataset:
  """FER2013 faces of ``split`` (default 'train' = Usage Training, torchvision's split)."""
  if split not in FER2013_USAGE:
    raise ValueError(f"fer2013: split must be one of {sorted(FER2013_USAGE)}, got {split!r}")
  path = _find_fer2013_csv(root, split)
  dropped = {"bad_emotion": 0, "bad_pixels": 0}
  labels, pixels, other_usage = [], [], 0
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = [h.strip().lower() for h in next(reader, [])]
    if "emotion" not in header or "pixels" not in header:
      raise ValueError(f"fer2013: {path} must have 'emotion' and 'pixels' columns, got {header}")
    i_emo, i_pix = header.index("emotion"), header.index("pixels")
    i_use = header.index("usage") if "usage" in header else None
    if i_use is None and split != "train":
      raise ValueError(f"fer2013: {path} has no Usage column, so only split 'train' exists")
    for row in reader:
      if not row:
        continue
      if i_use is not None and row[i_use].strip() not in FER2013_USAGE[split]:
        other_usage += 1
        continue
      try:
        label = int(row[i_emo])
      except ValueError:
        label = -1
      if not 0 <= label < len(FER2013_CLASSES):
        dropped["bad_emotion"] += 1
        continue
      labels.append(label)
      pixels.append(row[i_pix])
  arrays, good = _decode_pixels(pixels)
  dropped["bad_pixels"] = int((~good).sum())
  labels = [lab for lab, g in zip(labels, good) if g]
  examples = [Example(source=i, label=lab) for i, lab in enumerate(labels)]
  return EvalDataset(
      name="fer2013", task="emotion", classnames=list(FER2013_CLASSES),
      prompts=[[face_prompt(a)] for a in FER2013_ADJECTIVES], k=3, examples=examples,
      arrays=arrays,
      info={"split": split, "usage": list(FER2013_USAGE[split]), "file": path,
            "num_examples": len(examples), "rows_of_other_splits": other_usage,
            "dropped": dropped, "crop": "none (whole 48x48 face)",
            "fixed_grammar": fixed_grammar, "paper_protocol": paper_protocol})


# ------------------------------------------------------------------------------------- FER+


def _ferplus_dir(root: str, folder: str) -> str:
  for base in (root, os.path.join(root, "data")):
    if os.path.isfile(os.path.join(base, folder, "label.csv")):
      return os.path.join(base, folder)
  return os.path.join(root, folder)


def ferplus(root: str, *, split: str = "test", fixed_grammar: bool = False,
            paper_protocol: bool = False) -> EvalDataset:
  """FER+ faces of ``split`` (default 'test' = FER2013Test), majority-vote labels."""
  if split not in FERPLUS_FOLDERS:
    raise ValueError(f"ferplus: split must be one of {sorted(FERPLUS_FOLDERS)}, got {split!r}")
  folder = _ferplus_dir(root, FERPLUS_FOLDERS[split])
  label_csv = os.path.join(folder, "label.csv")
  require([label_csv], "ferplus",
          f"Looked in {root} and {os.path.join(root, 'data')}. Generate the FER+ folders with "
          "https://github.com/microsoft/FERPlus src/generate_training_data.py -d <root> "
          "-fer fer2013.csv -ferplus fer2013new.csv.")
  num = len(FERPLUS_CLASSES)
  examples = []
  dropped = {"not_a_face": 0, "missing_image": 0, "malformed_row": 0}
  no_emotion_votes = 0
  with open(label_csv, newline="", encoding="utf-8") as f:
    for row in csv.reader(f):
      row = [c.strip() for c in row]
      if not row or not row[0]:
        continue
      try:   # an unquoted face box "(0, 0, 48, 48)" splits into 4 cells: votes are the last 10
        votes = np.array([float(v) for v in row[-10:]])
      except ValueError:
        votes = None
      if votes is None or len(row) < 12:
        dropped["malformed_row"] += 1
        continue
      if votes[9] > 0:
        dropped["not_a_face"] += 1
        continue
      path = os.path.join(folder, row[0])
      if not os.path.exists(path):
        dropped["missing_image"] += 1
        continue
      emotion = votes[:num]
      no_emotion_votes += int(emotion.sum() == 0)
      examples.append(Example(source=path, label=int(np.argmax(emotion))))
  if not examples and dropped["missing_image"]:
    raise FileNotFoundError(f"ferplus: none of the {dropped['missing_image']} images listed in "
                            f"{label_csv} exist in {folder}.")
  return EvalDataset(
      name="ferplus", task="emotion", classnames=list(FERPLUS_CLASSES),
      prompts=[[face_prompt(a)] for a in FERPLUS_ADJECTIVES], k=3, examples=examples,
      info={"split": split, "folder": folder, "num_examples": len(examples),
            "dropped": dropped, "no_emotion_votes": no_emotion_votes,
            "label_rule": "argmax of the 8 emotion votes, ties to the earliest class",
            "crop": "none (whole image)", "fixed_grammar": fixed_grammar,
            "paper_protocol": paper_protocol})
