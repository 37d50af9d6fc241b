"""A fake MPII Pose Descriptions manual directory in the real on-disk format, for tests."""

import json
import os

import numpy as np
from PIL import Image

W, H = 96, 64


def _person(rng, visible=16):
  """A plausible standing person (MPII joint order) somewhere in the image."""
  cx, top = rng.uniform(25, 70), rng.uniform(4, 12)
  s = rng.uniform(0.8, 1.2)
  rel = np.array([  # (x, y) offsets of the 16 joints for a standing pose, in pixels
      [-6, 52], [-6, 40], [-5, 29], [5, 29], [6, 40], [6, 52], [0, 29], [0, 10], [0, 7],
      [0, 0], [-14, 30], [-12, 19], [-8, 10], [8, 10], [12, 19], [14, 30]], np.float32)
  kpts = np.stack([cx + s * rel[:, 0], top + s * rel[:, 1]], axis=1)
  vis = np.zeros(16, np.int32)
  vis[:visible] = 1
  kpts[vis == 0] = -1
  return {"id": 0, "center": [float(cx), float(top + 30 * s)], "scale": float(s * 0.3),
          "kpts": kpts.round(1).tolist(), "kpts_vis": vis.tolist()}


def _record(name, people, description, activity="sports, running", activity_id=7):
  return {"image": name, "video_id": 1, "video_frame": 1, "activity": activity,
          "activity_id": activity_id, "count": len(people), "people": people,
          "istrain": True, "description": description}


def make_manual_dir(root, num_good_train=5, num_val=3, seed=0, size=(W, H)):
  """Writes images/ and descriptions/ under ``root``; returns the expected outcome.

  Training records: ``num_good_train`` plain ones, then one each of: zero-width parts (kept),
  corrupt JPEG, missing image, no description, one visible joint (skipped), joints past every
  image edge (kept), a head drawable only through a joint above the image (kept), broken
  people beside a good one (kept, see ``people`` in the result), a person outside (skipped).

  ``size`` (width, height) of the generated images; keypoints are laid out for 96 x 64 and
  scaled to it.
  """
  rng = np.random.default_rng(seed)
  sx, sy = size[0] / W, size[1] / H
  os.makedirs(os.path.join(root, "images"), exist_ok=True)
  desc = os.path.join(root, "descriptions")

  def image(name):
    small = rng.integers(0, 256, size=(H // 4, W // 4, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.BILINEAR)  # smooth: realistic JPEG sizes
    img.save(os.path.join(root, "images", name), quality=90)

  def scaled(person):
    person["kpts"] = [[x * sx if x >= 0 else x, y * sy if y >= 0 else y]
                      for x, y in person["kpts"]]
    return person

  train, train35, val = [], [], []
  for i in range(num_good_train):
    name = f"{i:09d}.jpg"
    image(name)
    people = [scaled(_person(rng)) for _ in range(1 + i % 2)]
    text = (f"Person {i} raises the left arm above the right knee." if i == 2 else
            f"There is a person running, number {i}.")
    train.append(_record(name, people, text))
    train35.append(_record(name, people, f"A GPT-3.5 description {i}."))
  # Degenerate: the only visible joints of every part share x -> zero-width blobs (kept).
  name = "000000100.jpg"
  image(name)
  p = _person(rng)
  p["kpts"] = [[40.0, float(y)] for _, y in p["kpts"]]
  train.append(_record(name, [p], "A person standing perfectly straight."))
  # Corrupt (truncated) JPEG.
  name = "000000101.jpg"
  image(name)
  path = os.path.join(root, "images", name)
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[: len(data) // 3])
  train.append(_record(name, [_person(rng)], "Corrupt image."))
  # Missing image file.
  train.append(_record("000000102.jpg", [_person(rng)], "No image."))
  # No description.
  name = "000000103.jpg"
  image(name)
  train.append(_record(name, [_person(rng)], ""))
  # No body part with two visible joints (one visible joint).
  name = "000000104.jpg"
  image(name)
  train.append(_record(name, [_person(rng, visible=1)], "Barely visible."))
  # Real-format edge cases (kept). MPII annotates joints slightly past the image edges with
  # kpts_vis 1 (e.g. a head top at y = -0.78); unannotated joints are [-1, -1], kpts_vis 0.
  name = "000000105.jpg"
  image(name)
  p = _person(rng)
  p["kpts"][9][1] = -0.78                         # head top above the top edge
  p["kpts"][15][0] = -2.3                         # left wrist past the left edge
  p["kpts"][10][0] = W + 1.7                      # right wrist past the right edge
  p["kpts"][0][1] = H + 2.2                       # right ankle below the bottom edge
  p["kpts"][5], p["kpts_vis"][5] = [-1.0, -1.0], 0  # left ankle not annotated
  train.append(_record(name, [p], "A person at the edges of the image."))
  # Only the head is drawable, through the head top above the image: the record exists only
  # if that joint counts as visible (a rule "visible and x, y >= 0" would skip it).
  name = "000000106.jpg"
  image(name)
  p = _person(rng, visible=0)
  p["kpts"][8], p["kpts_vis"][8] = [50.0, 3.2], 1
  p["kpts"][9], p["kpts_vis"][9] = [52.5, -0.78], 1
  train.append(_record(name, [p], "Only a head at the top edge."))
  # Broken people next to a good one: dropped or repaired, and counted; the record is kept.
  name = "000000107.jpg"
  image(name)
  good, no_kpts, nan_joint, inf_joint, mismatched, outside = (_person(rng) for _ in range(6))
  del no_kpts["kpts"]
  nan_joint["kpts"][9][0] = float("nan")          # written as NaN (Python's json allows it)
  inf_joint["kpts"][0][1] = float("inf")
  mismatched["kpts_vis"] = mismatched["kpts_vis"][:15]
  outside["kpts"] = [[x + 200.0, y] for x, y in outside["kpts"]]
  train.append(_record(name, [good, no_kpts, nan_joint, inf_joint, mismatched, outside],
                       "Several people, some badly annotated."))
  # Its only person is entirely outside the image: skipped (no body part left).
  name = "000000108.jpg"
  image(name)
  outside = _person(rng)
  outside["kpts"] = [[x, y - 150.0] for x, y in outside["kpts"]]
  train.append(_record(name, [outside], "A person above the image."))
  for i in range(num_val):
    name = f"{200 + i:09d}.jpg"
    image(name)
    val.append(_record(name, [scaled(_person(rng))], f"A validation description {i}."))
  os.makedirs(os.path.join(desc, "gpt-4-0613"), exist_ok=True)
  os.makedirs(os.path.join(desc, "gpt-3.5-turbo-0613"), exist_ok=True)
  with open(os.path.join(desc, "gpt-4-0613", "train.json"), "w") as f:
    json.dump(train, f)
  with open(os.path.join(desc, "gpt-3.5-turbo-0613", "train.json"), "w") as f:
    json.dump(train35, f)
  with open(os.path.join(desc, "gpt-3.5-turbo-0613", "val.json"), "w") as f:
    json.dump(val, f)
  return {"train": num_good_train + 4, "validation": num_val,
          "skipped_train": {"missing_image": 1, "unreadable_image": 1, "no_description": 1,
                            "no_visible_body_part": 2, "person_without_keypoints": 1,
                            "person_malformed": 1, "joint_invalid_coordinate": 2,
                            "person_outside_image": 2},
          # Image -> (indices of the stored people, {(person, joint) made unannotated}).
          "people": {"000000107.jpg": ([0, 2, 3], {(1, 9), (2, 0)})}}
