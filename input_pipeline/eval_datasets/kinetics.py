"""Kinetics-400 from one pre-extracted frame per clip: top-3 action classification.

The reference (docs/method.md §6.1) classifies one JPEG per annotated clip of the ``test``
split. Layout under the dataset folder::

  <root>/images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg   # one frame per clip
  <root>/annotations/<split>.json   (or <root>/<split>.json, or a file whose name contains
                                     <split>, or one ActivityNet-style file for all splits)

The annotation JSON is the ActivityNet-style file of the original DeepMind Kinetics-400
release (``kinetics_{train,val,test}.json``; the CVDF mirror,
https://github.com/cvdfoundation/kinetics-dataset, ships the same clips as CSV files with
label, youtube_id, time_start, time_end): ``{ytid: {"annotations": {"label": ...,
"segment": [start, end]}, "subset": ...}}``, optionally wrapped in ``{"database": {...}}``.
The frames are not in any release: make them from the videos with
``python -m input_pipeline.eval_datasets.kinetics_frames`` (the middle frame of each
annotated segment; the reference's extraction rule is unknown, docs/method.md §8 item 7).

Every frame under ``images/<split>/<label>/`` is an example, labelled by its folder (the
annotation is only used to report how many frames it covers; frames it does not list, or
lists under another label, are kept with the folder's label). Classes = the labels with at
least one frame, **sorted**: the reference used ``list(set(...))``, an arbitrary order used
consistently for ids and prompts, so sorting changes no score. Prompt:
``"a photo of a person {label}"`` with the label taken raw.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any

from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import require

TEMPLATE = "a photo of a person {}"
FRAME_RE = re.compile(r"^(.+)_(\d{6})_(\d{6})\.jpe?g$", re.IGNORECASE)
# ActivityNet-style "subset" values of each split.
SUBSET_ALIASES = {
    "train": ("train", "training"),
    "val": ("val", "validate", "validation"),
    "test": ("test", "testing"),
}
_HINT = ("Put one frame per clip in images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg "
         "(python -m input_pipeline.eval_datasets.kinetics_frames --videos=DIR "
         "--annotations=JSON --out=ROOT extracts them from the Kinetics-400 videos).")


def load_annotations(path: str, split: str | None = None) -> dict[str, dict[str, Any]]:
  """{ytid: {"label", "segment": (start, end), "subset"}} of an ActivityNet-style JSON.

  Accepts the dict with or without the ``"database"`` wrapper. When ``split`` is given, entries
  whose ``subset`` belongs to another split are dropped (entries without a subset are kept).
  """
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  return parse_annotations(data, split, source=path)


def parse_annotations(data: Any, split: str | None = None,
                      source: str = "annotations") -> dict[str, dict[str, Any]]:
  """``load_annotations`` of an already-loaded JSON object."""
  if isinstance(data, dict) and isinstance(data.get("database"), dict):
    data = data["database"]
  if not isinstance(data, dict):
    raise ValueError(f"kinetics400: {source} is not an ActivityNet-style {{ytid: entry}} dict")
  aliases = SUBSET_ALIASES.get(split, (split,)) if split else None
  out = {}
  for ytid, entry in data.items():
    if not isinstance(entry, dict):
      continue
    subset = entry.get("subset")
    if aliases and subset is not None and str(subset).lower() not in aliases:
      continue
    anno = entry.get("annotations")
    if isinstance(anno, list):  # ActivityNet proper: a list of segments; take the first.
      anno = anno[0] if anno else None
    if not isinstance(anno, dict) or "label" not in anno or "segment" not in anno:
      continue
    start, end = anno["segment"][:2]
    out[ytid] = {"label": anno["label"], "segment": (float(start), float(end)),
                 "subset": subset}
  return out


def find_annotation(root: str, split: str) -> tuple[str | None, bool]:
  """(path, split_specific) of the annotation JSON under ``root``, or (None, False)."""
  for rel in (os.path.join("annotations", f"{split}.json"), f"{split}.json"):
    if os.path.isfile(os.path.join(root, rel)):
      return os.path.join(root, rel), True
  for pattern in (os.path.join("annotations", "*.json"), "*.json"):
    files = sorted(glob.glob(os.path.join(root, pattern)))
    named = [p for p in files if split in os.path.basename(p).lower()]
    if named:
      return named[0], True
    if len(files) == 1:
      return files[0], False
  return None, False


def frame_name(ytid: str, start: float, end: float) -> str:
  """``<ytid>_<start:06d>_<end:06d>.jpg`` with integer seconds (as the reference)."""
  return f"{ytid}_{int(start):06d}_{int(end):06d}.jpg"


def kinetics400(root: str, *, split: str = "test", fixed_grammar: bool = False,
                paper_protocol: bool = False) -> EvalDataset:
  """Reads the frames of Kinetics-400 ``split``; see the module docstring.

  Args:
    root: the dataset folder (images/<split>/..., annotations/<split>.json).
    split: 'test' (the paper's), 'val' or 'train'.
    fixed_grammar: unused (the template has no article).
    paper_protocol: unused (the reference's ids and prompts are consistent; only the class
      order differs, which changes no score).

  Returns:
    The EvalDataset (task 'action', k=3, whole frames).
  """
  images_dir = os.path.join(root, "images", split)
  require([images_dir], "kinetics400", _HINT)
  anno_path, split_specific = find_annotation(root, split)
  annotations = (load_annotations(anno_path, None if split_specific else split)
                 if anno_path else {})

  frames = []  # (label, file name, path)
  for label in sorted(os.listdir(images_dir)):
    label_dir = os.path.join(images_dir, label)
    if label.startswith(".") or not os.path.isdir(label_dir):
      continue
    for name in sorted(os.listdir(label_dir)):
      if name.lower().endswith((".jpg", ".jpeg")):
        frames.append((label, name, os.path.join(label_dir, name)))
  if not frames:
    raise FileNotFoundError(f"kinetics400: no frames (*.jpg) in {images_dir}/<label>/. {_HINT}")

  classnames = sorted({label for label, _, _ in frames})
  index = {c: i for i, c in enumerate(classnames)}
  examples = [Example(source=path, label=index[label]) for label, _, path in frames]

  counts = {"annotated": 0, "unannotated": 0, "label_differs_from_annotation": 0,
            "unparsed_name": 0}
  seen = set()
  for label, name, _ in frames:
    m = FRAME_RE.match(name)
    if not m:
      counts["unparsed_name"] += 1
      continue
    anno = annotations.get(m.group(1))
    if anno is None:
      counts["unannotated"] += 1
      continue
    seen.add(m.group(1))
    counts["annotated"] += 1
    if anno["label"] != label:
      counts["label_differs_from_annotation"] += 1
  info = {
      "split": split,
      "layout": "images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg + ActivityNet JSON",
      "root": root,
      "annotation": anno_path,
      "crop": "none (whole frame)",
      "num_examples": len(examples),
      "num_annotated_clips": len(annotations),
      "annotated_clips_without_frame": len(set(annotations) - seen),
      "frames": counts,
      "dropped": {},
      "class_order": "sorted labels with >= 1 frame (reference: list(set(...)), arbitrary)",
      "fixed_grammar": fixed_grammar,
      "paper_protocol": paper_protocol,
  }
  prompts = [[TEMPLATE.format(c)] for c in classnames]
  return EvalDataset(name="kinetics400", task="action", classnames=classnames, prompts=prompts,
                     k=3, examples=examples, info=info)
