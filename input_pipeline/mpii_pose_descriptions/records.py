"""MPII Pose Descriptions JSON records: reading the files, and validating the people in them.

A released description file (Hugging Face dataset saifkhichi96/mpii-human-pose-captions) is
one JSON list of per-image records: image, activity, activity_id, count, istrain, description
and people [{id, center [x, y], scale, kpts 16 x [x, y], kpts_vis 16 x {0, 1}}]. Unannotated
joints are [-1, -1] with kpts_vis 0; annotated joints may lie slightly outside the image (a
negative coordinate with kpts_vis 1). Visibility comes from kpts_vis alone, as in the
reference (docs/method.md §2).

Bad annotations are handled deliberately, never turned into heatmap content:

* a file that is not JSON (or JSON lines), or holds no records: ``ValueError`` naming the file,
  what is wrong (line and column) and the fix;
* a person without ``kpts``/``kpts_vis``: dropped, counted as ``person_without_keypoints``;
* a person whose kpts are not 16 [x, y] numbers, whose kpts_vis are not 16 numbers, or whose
  centre/scale are not numbers: dropped, counted as ``person_malformed``;
* a joint with a NaN/inf coordinate (or one beyond +-``MAX_COORD``, where the reference's
  integer arithmetic would overflow): made unannotated ([-1, -1], visibility 0), counted as
  ``joint_invalid_coordinate``;
* a person outside the image (``heatmaps.people_outside_image``: visible joints, but neither
  one of them nor the box of one of its drawable parts touches the image): dropped, counted as
  ``person_outside_image`` (``drop_people_outside``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from input_pipeline import heatmaps as heatmaps_lib
from input_pipeline.mpii_joints import BODY_PARTS
from input_pipeline.mpii_joints import NUM_JOINTS

# Largest |coordinate| accepted: the fidelity heatmap truncates coordinates to int64 and sums
# pairs of them; 2^31 px keeps that exact and far from overflow (images are ~1280 px).
MAX_COORD = 2.0**31
# Per-person and per-joint counters of the skip report (records are counted by the builder).
PERSON_COUNTERS = ("person_without_keypoints", "person_malformed", "joint_invalid_coordinate",
                   "person_outside_image")
_FIX = ("re-download it from https://huggingface.co/datasets/saifkhichi96/"
        "mpii-human-pose-captions (or regenerate it)")


class People:
  """The valid people of a record: keypoints [P,16,2] float32 (unannotated joints [-1, -1]),
  visibility [P,16] int32 (0/1), centres [P,2] float32, scales [P] float32."""

  def __init__(self, kpts, vis, centers, scales):
    self.kpts, self.vis, self.centers, self.scales = kpts, vis, centers, scales

  def __len__(self):
    return len(self.kpts)

  def select(self, keep: np.ndarray) -> "People":
    return People(self.kpts[keep], self.vis[keep], self.centers[keep], self.scales[keep])


# ------------------------------------------------------------------------------------ files


def _position(text: str, pos: int) -> str:
  line = text.count("\n", 0, pos) + 1
  return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def load_records(path: str) -> list[dict[str, Any]]:
  """A description file -> its per-image records (a JSON list, a dict of records or JSON lines).

  Raises ValueError naming the file, the problem (with line and column) and the fix when it is
  not valid JSON / JSON lines, holds no records, or holds a record that is not an object.
  """
  with open(path, encoding="utf-8") as f:
    text = f.read()
  if not text.strip():
    raise ValueError(f"{path}: the description file is empty (0 records); {_FIX}.")
  try:
    data = json.loads(text)
  except json.JSONDecodeError as whole:
    data = _json_lines(path, text, whole)
  if isinstance(data, dict):
    for key in ("data", "annotations", "images", "records"):
      if isinstance(data.get(key), list):
        data = data[key]
        break
    else:
      if not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON list of per-image records (or a dict of "
                         f"them by image name), got a dict of other values; {_FIX}.")
      data = [dict(v, image=v.get("image", k)) for k, v in data.items()]
  if not isinstance(data, list):
    raise ValueError(f"{path}: expected a JSON list of per-image records, got "
                     f"{type(data).__name__}; {_FIX}.")
  if not data:
    raise ValueError(f"{path}: holds no records (an empty list); {_FIX}.")
  for i, r in enumerate(data):
    if not isinstance(r, dict):
      raise ValueError(f"{path}: record {i} is {type(r).__name__}, not a JSON object; {_FIX}.")
  return data


def _json_lines(path: str, text: str, whole: json.JSONDecodeError) -> list[Any]:
  """Parses JSON lines; on failure raises the error that fits the file best."""
  lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
  whole_msg = f"{whole.msg} at {_position(text, whole.pos)}"
  try:
    first = json.loads(lines[0][1])
  except json.JSONDecodeError:
    first = None
  if len(lines) < 2 or not isinstance(first, dict):
    raise ValueError(f"{path}: not valid JSON: {whole_msg}. The file is truncated or corrupt; "
                     f"{_FIX}.") from whole
  out = []
  for number, line in lines:
    try:
      out.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not valid JSON lines: line {number}: {e.msg} at column "
                       f"{e.colno} (as one JSON document: {whole_msg}). The file is truncated "
                       f"or corrupt; {_FIX}.") from e
  return out


def description(record) -> str:
  d = record.get("description")
  if isinstance(d, (list, tuple)):
    d = " ".join(str(x) for x in d if x)
  return d.strip() if isinstance(d, str) else ""


def merge_records(files) -> dict[str, tuple[dict, list[str], list[str]]]:
  """{image name: (record, descriptions, their sources)} over one or several LLM files."""
  merged: dict[str, tuple[dict, list[str], list[str]]] = {}
  for folder, path in files:
    for record in load_records(path):
      name = record.get("image")
      if not name:
        continue
      entry = merged.setdefault(name, (record, [], []))
      d = description(record)
      if d:
        entry[1].append(d)
        entry[2].append(folder)
  return merged


# ----------------------------------------------------------------------------------- people


def _numbers(value, shape) -> np.ndarray | None:
  """value as a float64 array of exactly ``shape``, or None (not numbers, wrong length)."""
  try:
    a = np.asarray(value, np.float64)
  except (TypeError, ValueError):
    return None
  return a if a.shape == shape else None


def parse_people(record, counts: dict[str, int]) -> People:
  """The record's valid people; invalid people and joints are dropped and counted in counts."""
  people = record.get("people")
  if people is None:
    people = []
  if not isinstance(people, list):
    counts["person_malformed"] += 1
    people = []
  kpts, vis, centers, scales = [], [], [], []
  for p in people:
    if not isinstance(p, dict) or p.get("kpts") is None or p.get("kpts_vis") is None:
      counts["person_without_keypoints" if isinstance(p, dict) else "person_malformed"] += 1
      continue
    k = _numbers(p["kpts"], (NUM_JOINTS, 2))
    v = _numbers(p["kpts_vis"], (NUM_JOINTS,))
    c = _numbers(p.get("center", [-1.0, -1.0]), (2,))
    s = _numbers(p.get("scale", -1.0), ())
    if k is None or v is None or c is None or s is None:
      counts["person_malformed"] += 1
      continue
    v = v > 0                                  # NaN visibility compares False: not visible
    bad = ~(np.abs(k) < MAX_COORD).all(-1)     # NaN compares False: bad
    counts["joint_invalid_coordinate"] += int(bad.sum())
    k[bad] = -1.0
    v &= ~bad
    kpts.append(k)
    vis.append(v)
    centers.append(c)
    scales.append(s)
  n = len(kpts)
  return People(np.asarray(kpts, np.float32).reshape(n, NUM_JOINTS, 2),
                np.asarray(vis, np.int32).reshape(n, NUM_JOINTS),
                np.asarray(centers, np.float32).reshape(n, 2),
                np.asarray(scales, np.float32).reshape(n))


def drop_people_outside(people: People, height: int, width: int,
                        counts: dict[str, int]) -> People:
  """Drops (and counts) the people outside the image (``heatmaps.people_outside_image``)."""
  outside = heatmaps_lib.people_outside_image(people.kpts, people.vis, height, width)
  counts["person_outside_image"] += int(outside.sum())
  return people.select(~outside)


def has_body_part(vis: np.ndarray) -> bool:
  """True when some person has a body part with >= 2 visible joints."""
  for _, joints in BODY_PARTS:
    if vis.shape[0] and np.any(vis[:, list(joints)].sum(axis=1) >= 2):
      return True
  return False
