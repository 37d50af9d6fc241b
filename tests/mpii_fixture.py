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
  return {"train": num_good_train + 1, "validation": num_val,
          "skipped_train": {"missing_image": 1, "unreadable_image": 1, "no_description": 1,
                            "no_visible_body_part": 1}}
