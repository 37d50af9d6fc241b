"""Heatmap generation: the reference algorithm vs input_pipeline.heatmaps, and fast vs fidelity.

  python benchmarks/heatmaps.py [--num_images N] [--num_diff_images M] [--json PATH]

Random MPII-like poses (a standing-person template, randomly sized, rotated and jittered, 85%
of joints visible) on 1280x720 images with 1-3 people, fixed seed. Times per image:

  (a) reference: docs/method.md §2 literally (per person and part: np.indices grid of the full
      image, np.exp over it, clip, sum; final clip), at 1280x720;
  (b) heatmap_for_image(mode="fast") at 224x224 (what the pipeline computes);
  (c) heatmap_numpy at 1280x720, fidelity=False;
  (d) heatmap_for_image_tf(mode="fast") at 224x224 inside a tf.function (eager calls);
  (e) heatmap_for_image(mode="fidelity") at 224x224 (full-resolution map + antialiased resize);

and the difference between fast and fidelity heatmaps at 224x224 over M images.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  pylint: disable=wrong-import-position
import tensorflow as tf  # noqa: E402  pylint: disable=wrong-import-position

from focusclip_jax import jsonio  # noqa: E402  pylint: disable=wrong-import-position
from input_pipeline import heatmaps as hm  # noqa: E402  pylint: disable=wrong-import-position

SRC = (720, 1280)
DST = (224, 224)
PARTS = tuple(j for _, j in hm.BODY_PARTS)

# Pelvis-centred standing person, in person heights, MPII joint order.
_TEMPLATE = np.array([
    [-0.10, 0.50], [-0.08, 0.25], [-0.08, 0.0], [0.08, 0.0], [0.08, 0.25], [0.10, 0.50],
    [0.0, 0.0], [0.0, -0.30], [0.0, -0.36], [0.0, -0.50], [-0.22, 0.0], [-0.20, -0.15],
    [-0.12, -0.30], [0.12, -0.30], [0.20, -0.15], [0.22, 0.0]])


def mpii_like_poses(num_images: int, seed: int = 0):
  """[(kpts [P, 16, 2], vis [P, 16])] with P in 1..3, on 1280x720 images."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(num_images):
    people = []
    for _ in range(rng.integers(1, 4)):
      size = rng.uniform(150, 600)
      a = rng.uniform(-0.5, 0.5)
      rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
      pts = (_TEMPLATE + rng.normal(0, 0.04, _TEMPLATE.shape)) @ rot.T * size
      people.append(pts + rng.uniform([0, 0], [SRC[1], SRC[0]]))
    kpts = np.clip(np.stack(people), 0, [SRC[1] - 1, SRC[0] - 1])
    vis = (rng.uniform(size=kpts.shape[:2]) < 0.85).astype(np.int32)
    out.append((kpts, vis))
  return out


def reference_heatmap(kpts, vis, height, width):
  """The reference algorithm, loops and all (NaN stripes included)."""
  yy, xx = np.indices((height, width))
  total = np.zeros((height, width))
  for p in range(len(kpts)):
    for joints in PARTS:
      pts = [(int(kpts[p][j][0]), int(kpts[p][j][1])) for j in joints if vis[p][j] > 0]
      if len(pts) < 2:
        continue
      xs, ys = [q[0] for q in pts], [q[1] for q in pts]
      cx, cy = (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2
      ax, ay = (max(xs) - min(xs)) // 2, (max(ys) - min(ys)) // 2
      with np.errstate(divide="ignore", invalid="ignore"):
        g = np.exp(-((xx - cx) ** 2 / (2 * ax ** 2) + (yy - cy) ** 2 / (2 * ay ** 2)))
      total += np.clip(g, 0, 1)
  return np.clip(total, 0, 1)


def per_image_ms(fn, poses, min_seconds: float = 0.0) -> float:
  """Mean wall time of fn(kpts, vis) per image, repeating the whole list for >= min_seconds."""
  fn(*poses[0])  # warm-up (tracing, caches)
  n, start = 0, time.perf_counter()
  while True:
    for kpts, vis in poses:
      fn(kpts, vis)
    n += len(poses)
    elapsed = time.perf_counter() - start
    if elapsed >= min_seconds:
      return 1e3 * elapsed / n


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_images", type=int, default=12,
                      help="images timed (the reference algorithm is slow: keep this small)")
  parser.add_argument("--num_diff_images", type=int, default=200,
                      help="images for the fast vs fidelity difference")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default=None, help="also write the numbers to this file")
  args = parser.parse_args(argv)

  poses = mpii_like_poses(max(args.num_images, args.num_diff_images), args.seed)
  timed = poses[:args.num_images]
  res = {"num_images": args.num_images, "src_hw": SRC, "dst_hw": DST,
         "mean_people": float(np.mean([len(k) for k, _ in timed]))}

  tf_fast = tf.function(
      lambda k, v: hm.heatmap_for_image_tf(k, v, SRC, DST, mode="fast"),
      input_signature=[tf.TensorSpec([None, 16, 2], tf.float64),
                       tf.TensorSpec([None, 16], tf.int32)])
  timings = {
      "reference_1280x720": (lambda k, v: reference_heatmap(k, v, *SRC), 0.0),
      "fast_224": (lambda k, v: hm.heatmap_for_image(k, v, SRC, DST, mode="fast"), 1.0),
      "numpy_1280x720": (lambda k, v: hm.heatmap_numpy(k, v, *SRC), 1.0),
      "tf_function_fast_224": (lambda k, v: tf_fast(k, v).numpy(), 1.0),
      "fidelity_224": (lambda k, v: hm.heatmap_for_image(k, v, SRC, DST, mode="fidelity"), 1.0),
  }
  ms = {name: per_image_ms(fn, timed, min_s) for name, (fn, min_s) in timings.items()}
  res["ms_per_image"] = ms
  res["speedup_vs_reference"] = {
      name: ms["reference_1280x720"] / t for name, t in ms.items() if name != "reference_1280x720"}

  # Sanity: with min_sigma = 0 ours equals the reference wherever the reference is finite.
  errs = []
  for kpts, vis in timed[:4]:
    ref = reference_heatmap(kpts, vis, *SRC)
    ours = hm.heatmap_numpy(kpts, vis, *SRC, min_sigma=0.0, fidelity=True)
    finite = np.isfinite(ref)
    errs.append(float(np.abs(ours - ref)[finite].max()))
  res["max_abs_err_vs_reference_where_finite"] = max(errs)

  diffs, support = [], []
  for kpts, vis in poses[:args.num_diff_images]:
    fast = hm.heatmap_for_image(kpts, vis, SRC, DST, mode="fast")
    fid = hm.heatmap_for_image(kpts, vis, SRC, DST, mode="fidelity")
    d = np.abs(fast - fid)
    diffs.append(d)
    support.append(np.maximum(fast, fid) > 0.05)
  diffs, support = np.stack(diffs), np.stack(support)
  res["fast_vs_fidelity_224"] = {
      "num_images": args.num_diff_images,
      "mean_abs_diff": float(diffs.mean()),
      "mean_abs_diff_on_support": float(diffs[support].mean()),
      "p99_abs_diff": float(np.quantile(diffs, 0.99)),
      "max_abs_diff": float(diffs.max()),
      "mean_of_per_image_max": float(diffs.max(axis=(1, 2)).mean()),
  }

  print(f"{args.num_images} images of {SRC[1]}x{SRC[0]}, {res['mean_people']:.2f} people on "
        f"average ({os.cpu_count()} CPUs)")
  for name, t in ms.items():
    speed = res["speedup_vs_reference"].get(name)
    print(f"  {name:22s} {t:10.3f} ms/image" + (f"   {speed:9.1f}x" if speed else ""))
  print(f"  ours (min_sigma=0, fidelity) vs reference where finite: max |diff| = "
        f"{res['max_abs_err_vs_reference_where_finite']:.2e}")
  fv = res["fast_vs_fidelity_224"]
  print(f"fast vs fidelity at {DST[1]}x{DST[0]} over {fv['num_images']} images: mean |diff| "
        f"{fv['mean_abs_diff']:.4f} (on support {fv['mean_abs_diff_on_support']:.4f}), p99 "
        f"{fv['p99_abs_diff']:.4f}, max {fv['max_abs_diff']:.4f} (mean per-image max "
        f"{fv['mean_of_per_image_max']:.4f})")
  if args.json:
    jsonio.write_json(res, args.json)
  return res


if __name__ == "__main__":
  main()
