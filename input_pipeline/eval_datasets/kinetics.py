"""Kinetics-400 from one pre-extracted frame per clip: top-3 action classification.

The reference (docs/method.md §6.1) classifies one JPEG per annotated clip of the ``test``
split. Layout under the dataset folder::

  <root>/images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg   # one frame per clip
  <root>/annotations/<split>.json  or  <root>/annotations/<split>.csv
      (or <root>/<split>.{json,csv}, or a .json/.csv whose name contains <split>, e.g.
       kinetics_400_test.csv, or one file for all splits)

The annotation list comes in either of its two distributed formats:

* JSON, ActivityNet style, as in the original DeepMind release
  (``kinetics_{train,val,test}.json``) and the reference: ``{ytid: {"annotations": {"label":
  ..., "segment": [start, end]}, "subset": ..., "duration": ..., "url": ...}}``, optionally
  wrapped in ``{"database": {...}}``;
* CSV, as the widely used CVDF mirror (https://github.com/cvdfoundation/kinetics-dataset,
  ``k400/annotations/{train,val,test}.csv``) and the DeepMind CSV lists ship it: header
  ``label,youtube_id,time_start,time_end,split`` (extra columns such as ``is_cc`` are
  ignored; labels may be quoted).

Which one is read follows the file extension. Both give the same clips and frame names.
The frames are not in any release: make them from the videos with
``python -m focusclip_tools.kinetics_frames`` (the middle frame of each
annotated segment; the reference's extraction rule is unknown, docs/method.md §8 item 7).

Every frame under ``images/<split>/<label>/`` is an example, labelled by its folder (the
annotation is only used to report how many frames it covers; frames it does not list, or
lists under another label, are kept with the folder's label). Classes = the labels with at
least one frame, **sorted**: the reference used ``list(set(...))``, an arbitrary order used
consistently for ids and prompts, so sorting changes no score. Prompt:
``"a photo of a person {label}"`` with the label taken raw.
"""

from __future__ import annotations

import csv
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
CSV_HEADER = "label,youtube_id,time_start,time_end,split"
ANNOTATION_EXTENSIONS = (".json", ".csv")
_LAYOUT = ("images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg + annotations/<split>.json "
           f"(ActivityNet style) or annotations/<split>.csv ({CSV_HEADER})")
_HINT = (f"Expected layout under the dataset folder: {_LAYOUT}; the annotation is optional. "
         "python -m focusclip_tools.kinetics_frames --videos=DIR "
         "--annotations=JSON_OR_CSV --out=ROOT extracts the frames from the Kinetics-400 "
         "videos.")


def load_annotations(path: str, split: str | None = None) -> dict[str, dict[str, Any]]:
  """{ytid: {"label", "segment": (start, end), "subset"}} of an annotation file.

  ``*.csv``: the CVDF / DeepMind CSV list (see the module docstring); anything else: the
  ActivityNet-style JSON, with or without the ``"database"`` wrapper. When ``split`` is
  given, entries whose ``subset`` (JSON) or ``split`` column (CSV) names another split are
  dropped (entries without one are kept).
  """
  if path.lower().endswith(".csv"):
    return load_csv_annotations(path, split)
  with open(path, encoding="utf-8") as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"kinetics400: {path} is not valid JSON ({e}); the annotation list is "
                       f"either ActivityNet-style JSON or a .csv with {CSV_HEADER}") from e
  return parse_annotations(data, split, source=path)


def _keep(subset: Any, split: str | None) -> bool:
  if not split or subset in (None, ""):
    return True
  return str(subset).lower() in SUBSET_ALIASES.get(split, (split,))


def load_csv_annotations(path: str, split: str | None = None) -> dict[str, dict[str, Any]]:
  """``load_annotations`` of a ``label,youtube_id,time_start,time_end,split`` CSV."""
  with open(path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    absent = [c for c in ("label", "youtube_id", "time_start", "time_end") if c not in fields]
    if absent:
      hint = (" It has no labels: the unlabelled test list of the first release? The CVDF "
              "mirror's annotations/test.csv is labelled." if absent == ["label"] else "")
      raise ValueError(f"kinetics400: {path} lacks columns {absent} (has {fields}); expected "
                       f"the header {CSV_HEADER}.{hint}")
    out = {}
    for raw in reader:
      row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
      if not _keep(row.get("split"), split) or row["youtube_id"] in out:
        continue  # another split's row, or a second clip of a video (keyed by ytid as JSON)
      try:
        segment = (float(row["time_start"]), float(row["time_end"]))
      except ValueError as e:
        raise ValueError(f"kinetics400: {path} line {reader.line_num}: time_start / time_end "
                         f"must be numbers, got {row['time_start']!r}, "
                         f"{row['time_end']!r}") from e
      out[row["youtube_id"]] = {"label": row["label"], "segment": segment,
                                "subset": row.get("split")}
  return out


def parse_annotations(data: Any, split: str | None = None,
                      source: str = "annotations") -> dict[str, dict[str, Any]]:
  """``load_annotations`` of an already-loaded ActivityNet-style JSON object."""
  if isinstance(data, dict) and isinstance(data.get("database"), dict):
    data = data["database"]
  if not isinstance(data, dict):
    raise ValueError(f"kinetics400: {source} is not an ActivityNet-style {{ytid: entry}} dict")
  out = {}
  for ytid, entry in data.items():
    if not isinstance(entry, dict):
      continue
    subset = entry.get("subset")
    if not _keep(subset, split):
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
  """(path, split_specific) of the annotation JSON or CSV under ``root``, or (None, False)."""
  for folder in (os.path.join(root, "annotations"), root):
    for ext in ANNOTATION_EXTENSIONS:
      if os.path.isfile(os.path.join(folder, split + ext)):
        return os.path.join(folder, split + ext), True
  for folder in (os.path.join(root, "annotations"), root):
    files = sorted(p for ext in ANNOTATION_EXTENSIONS
                   for p in glob.glob(os.path.join(folder, "*" + ext)))
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
    root: the dataset folder (images/<split>/..., annotations/<split>.{json,csv}).
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
      "layout": _LAYOUT,
      "root": root,
      "annotation": anno_path,
      "annotation_format": anno_path and os.path.splitext(anno_path)[1][1:].lower(),
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
