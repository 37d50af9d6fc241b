r"""Writes the offline demo dataset: MPII Pose Descriptions layout + two zero-shot sets.

  python -m focusclip_tools.demo_data.writer --out=/tmp/focusclip_demo [--num_train=4000] \
      [--seed=0]

See the package docstring for what is written and why; descriptions come from the
keypoint-geometry describer (``focusclip_tools.describe.geometry.describe_record``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from typing import Any, Sequence

import numpy as np
from PIL import Image

from focusclip_tools.demo_data.activities import ACTIVITIES
from focusclip_tools.demo_data.activities import Activity
from focusclip_tools.demo_data.activities import activity_list
from focusclip_tools.demo_data.render import PEOPLE_PROBS
from focusclip_tools.demo_data.render import RenderedPerson
from focusclip_tools.demo_data.render import render_scene
from focusclip_tools.demo_data.skeleton import ADULT_AGES
from focusclip_tools.demo_data.skeleton import KID_AGES
from focusclip_tools.describe.geometry import describe_record

TRAIN_FOLDER = "gpt-4-0613"  # the builder's gpt-4 config: train from here ...
VAL_FOLDER = "gpt-3.5-turbo-0613"  # ... and validation from here (docs/method.md §4.3)
JPEG_QUALITY = 90
NUM_TRAIN = 4000  # default training images (what `make demo` trains on)
TRAIN_KID_FRACTION = 0.3  # share of children among the people of the training images


DESCRIPTION_SOURCE = "focusclip_tools.describe.geometry.describe_record"

# Generator streams: rng = default_rng([seed, code, index]).
_SPLIT_CODES = {"train": 0, "validation": 1, "stanford40": 2, "lagenda": 3}

# ---------------------------------------------------------------------------- records


def _sample_ages(rng, n, kid_fraction=TRAIN_KID_FRACTION):
  return [int(rng.integers(KID_AGES[0], KID_AGES[1] + 1)) if rng.random() < kid_fraction
          else int(rng.integers(20, 66)) for _ in range(n)]


def _balanced_labels(num: int, seed: int, code: int) -> np.ndarray:
  """Activity indices, as balanced as possible, in a seeded random order."""
  labels = np.resize(np.arange(len(ACTIVITIES)), num)
  return np.random.default_rng([seed, code, 99991]).permutation(labels)


def make_record(name: str, activity: Activity, people: Sequence[RenderedPerson],
                rng: np.random.Generator, *, istrain: bool) -> dict[str, Any]:
  """An MPII Pose Descriptions record (description left empty)."""
  return {
      "image": name,
      "video_id": int(rng.integers(1, 3000)),
      "video_frame": int(rng.integers(1, 5000)),
      "activity": activity.activity,
      "activity_id": activity.activity_id,
      "count": len(people),
      "people": [{"id": j, "center": p.center, "scale": p.scale,
                  "kpts": [[float(x), float(y)] for x, y in p.kpts],
                  "kpts_vis": [int(v) for v in p.vis],
                  # Not an MPII field (the builder ignores it): the describer uses it to name
                  # the person a child or an adult, as a captioner that sees the image would.
                  "age": p.age} for j, p in enumerate(people)],
      "istrain": istrain,
      "description": "",
  }


def _num_people(rng, activity: Activity) -> int:
  n = int(rng.choice([1, 2, 3], p=PEOPLE_PROBS))
  return min(n, activity.max_people)


def _save_jpeg(img: Image.Image, path: str):
  img.save(path, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)


def _render_example(seed: int, code: int, index: int, label: int, image_size):
  """Example ``index`` of a split: (its generator, activity, image, people); deterministic."""
  rng = np.random.default_rng([seed, code, index])
  activity = ACTIVITIES[label]
  ages = _sample_ages(rng, _num_people(rng, activity))
  img, people = render_scene(rng, activity, ages, image_size)
  return rng, activity, img, people


def _write_mpii(root, split, num, start, image_size, seed) -> list[dict[str, Any]]:
  code = _SPLIT_CODES[split]
  labels = _balanced_labels(num, seed, code)
  records = []
  for i in range(num):
    rng, activity, img, people = _render_example(seed, code, i, int(labels[i]), image_size)
    name = f"{start + i:09d}.jpg"
    _save_jpeg(img, os.path.join(root, "images", name))
    record = make_record(name, activity, people, rng, istrain=split == "train")
    w, h = image_size
    record["description"] = describe_record(record, image_size=(h, w))  # (height, width)
    records.append(record)
  return records


def _write_json(path: str, records):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(records, f, indent=1)
    f.write("\n")


def _write_stanford40(root: str, num: int, image_size, seed: int) -> dict[str, int]:
  code = _SPLIT_CODES["stanford40"]
  os.makedirs(os.path.join(root, "JPEGImages"), exist_ok=True)
  os.makedirs(os.path.join(root, "ImageSplits"), exist_ok=True)
  labels = _balanced_labels(num, seed, code)
  counts = {a.key: 0 for a in ACTIVITIES}
  files = []
  for i in range(num):
    _, activity, img, _ = _render_example(seed, code, i, int(labels[i]), image_size)
    counts[activity.key] += 1
    name = f"{activity.key}_{counts[activity.key]:03d}.jpg"
    _save_jpeg(img, os.path.join(root, "JPEGImages", name))
    files.append(name)
  with open(os.path.join(root, "ImageSplits", "actions.txt"), "w", encoding="utf-8") as f:
    f.write("action_name\tnumber_of_images\n")
    for key in sorted(counts):
      f.write(f"{key}\t{counts[key]}\n")
  with open(os.path.join(root, "ImageSplits", "test.txt"), "w", encoding="utf-8") as f:
    f.write("".join(f"{n}\n" for n in sorted(files)))
  return counts


def _write_lagenda(root: str, num: int, image_size, seed: int) -> dict[str, int]:
  code = _SPLIT_CODES["lagenda"]
  w, h = image_size
  os.makedirs(os.path.join(root, "images"), exist_ok=True)
  labels = _balanced_labels(num, seed, code)
  counts = {"kid": 0, "adult": 0}
  rows = []
  for i in range(num):
    rng = np.random.default_rng([seed, code, i])
    kid = i % 2 == 0
    lo, hi = KID_AGES if kid else ADULT_AGES
    age = int(rng.integers(lo, hi + 1))
    activity = ACTIVITIES[int(labels[i])]
    img, (person,) = render_scene(rng, activity, [age], image_size)
    name = f"images/{i + 1:05d}.jpg"
    _save_jpeg(img, os.path.join(root, name))
    counts["kid" if kid else "adult"] += 1

    def clip(box, margin):
      x0, y0, x1, y1 = box
      x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
      return [round(float(np.clip(x0, 0, w - 1)), 1), round(float(np.clip(y0, 0, h - 1)), 1),
              round(float(np.clip(x1, 1, w)), 1), round(float(np.clip(y1, 1, h)), 1)]

    face = clip(person.head_box, 0.0)
    body = clip(person.person_box, 0.03 * person.height_px)
    rows.append([name, age, "M" if rng.random() < 0.5 else "F", *face, *body])
  with open(os.path.join(root, "lagenda_annotation.csv"), "w", encoding="utf-8",
            newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["img_name", "age", "gender", "face_x0", "face_y0", "face_x1", "face_y1",
                     "person_x0", "person_y0", "person_x1", "person_y1"])
    writer.writerows(rows)
  return counts


def write_demo(root: str, *, num_train: int = NUM_TRAIN, num_val: int = 100,
               num_eval: int = 200,
               image_size: tuple[int, int] = (160, 120), seed: int = 0) -> dict[str, Any]:
  """Writes the demo dataset under ``root`` (see the module docstring); -> a summary dict.

  Args:
    root: output folder (created; files of an earlier run with the same names are replaced).
    num_train: training images (``mpii/descriptions/gpt-4-0613/train.json``).
    num_val: validation images (``mpii/descriptions/gpt-3.5-turbo-0613/val.json``).
    num_eval: images of each zero-shot set (Stanford 40 layout and LAGENDA layout).
    image_size: (width, height) in pixels.
    seed: everything written is a deterministic function of the arguments.

  Returns:
    {'root', 'paths': {...}, 'counts': {...}, 'activities': [...], 'image_size',
     'seed', 'description_source', 'seconds'}.
  """
  t0 = time.perf_counter()
  image_size = (int(image_size[0]), int(image_size[1]))
  root = os.path.abspath(os.path.expanduser(root))
  mpii = os.path.join(root, "mpii")
  zeroshot = os.path.join(root, "zeroshot")
  os.makedirs(os.path.join(mpii, "images"), exist_ok=True)
  train = _write_mpii(mpii, "train", num_train, 1, image_size, seed)
  val = _write_mpii(mpii, "validation", num_val, num_train + 1, image_size, seed)
  train_json = os.path.join(mpii, "descriptions", TRAIN_FOLDER, "train.json")
  val_json = os.path.join(mpii, "descriptions", VAL_FOLDER, "val.json")
  _write_json(train_json, train)
  _write_json(val_json, val)
  stanford = os.path.join(zeroshot, "stanford40")
  lagenda = os.path.join(zeroshot, "lagenda")
  s40 = _write_stanford40(stanford, num_eval, image_size, seed) if num_eval else {}
  lag = _write_lagenda(lagenda, num_eval, image_size, seed) if num_eval else {}
  summary = {
      "root": root,
      "paths": {"manual_dir": mpii, "train_json": train_json, "val_json": val_json,
                "zeroshot": zeroshot, "stanford40": stanford, "lagenda": lagenda},
      "counts": {"train": len(train), "validation": len(val),
                 "train_people": sum(r["count"] for r in train),
                 "stanford40": sum(s40.values()), "stanford40_per_class": s40,
                 "lagenda": sum(lag.values()), "lagenda_per_group": lag},
      "activities": activity_list(),
      "image_size": list(image_size),
      "seed": seed,
      "description_source": DESCRIPTION_SOURCE,
  }
  with open(os.path.join(root, "demo_info.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  summary["seconds"] = round(time.perf_counter() - t0, 2)
  return summary


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(
      prog="python -m focusclip_tools.demo_data.writer",
      description="Writes the offline FocusCLIP demo dataset (MPII layout + zero-shot sets).")
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--num_train", type=int, default=NUM_TRAIN)
  parser.add_argument("--num_val", type=int, default=100)
  parser.add_argument("--num_eval", type=int, default=200,
                      help="images per zero-shot set")
  parser.add_argument("--image_size", default="160x120", help="WIDTHxHEIGHT")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  w, h = (int(v) for v in args.image_size.lower().split("x"))
  s = write_demo(args.out, num_train=args.num_train, num_val=args.num_val,
                 num_eval=args.num_eval, image_size=(w, h), seed=args.seed)
  c, p = s["counts"], s["paths"]
  print(f"Wrote the FocusCLIP demo dataset to {s['root']} in {s['seconds']:.1f} s "
        f"({w}x{h} px, seed {s['seed']}, descriptions: {s['description_source']}):")
  print(f"  {p['manual_dir']}: {c['train']} train images ({c['train_people']} people), "
        f"{c['validation']} validation images")
  print(f"    {p['train_json']}\n    {p['val_json']}")
  print(f"  {p['stanford40']}: {c['stanford40']} test images, {len(s['activities'])} classes")
  print(f"  {p['lagenda']}: {c['lagenda']} images {c['lagenda_per_group']}")
  print("Activities (MPII activity -> zero-shot prompt):")
  for a in s["activities"]:
    print(f"  {a['activity_id']:2d} {a['activity']!r:58} -> {a['prompt']!r}")
  print("Next:\n  python -m input_pipeline.prepare "
        f"--manual_dir={p['manual_dir']} --config=gpt-4-224px\n"
        f"  zero-shot data root: {p['zeroshot']} (evaluations stanford40, lagenda_body, "
        "lagenda_face)")
  return s


if __name__ == "__main__":
  main()
