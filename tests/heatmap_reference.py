"""Independent per-pixel ports of the heatmap definition (docs/method.md §2), for tests.

Deliberately the slow, literal form: per person, per part, ``exp`` over the full np.indices
grid, in float64, with Python ``int()`` and ``//`` -- nothing shared with
input_pipeline/heatmaps.py (which uses separable profiles, masks and a matmul).
"""

import numpy as np

# docs/method.md §2, written out again so that the module's table is checked, not trusted.
PARTS = (
    (7, 8, 9, 12, 13), (6, 7, 12, 13, 2, 3), (13, 14, 7), (12, 11, 7), (14, 15, 13),
    (11, 10, 12), (3, 4, 6), (2, 1, 6), (4, 5, 3), (1, 0, 2),
)


def reference_heatmap(kpts, vis, height, width, *, min_sigma=0.0, integer=True):
  """docs/method.md §2 literally: per person, per part, exp over the full np.indices grid.

  integer=True, min_sigma=0: the reference exactly (int() truncation, // centre and axes; a
  zero axis divides by zero as in the reference). min_sigma > 0 floors the axes (the
  project's NaN fix). integer=False: float joints, centre (min + max) / 2, half extents
  (max - min) / 2 (the definition of the "fast" mode on its grid).
  """
  yy, xx = np.indices((height, width))
  total = np.zeros((height, width))
  for p in range(len(kpts)):
    for joints in PARTS:
      if integer:
        pts = [(int(kpts[p][j][0]), int(kpts[p][j][1])) for j in joints if vis[p][j] > 0]
      else:
        pts = [(float(kpts[p][j][0]), float(kpts[p][j][1])) for j in joints if vis[p][j] > 0]
      if len(pts) < 2:
        continue
      xs, ys = [q[0] for q in pts], [q[1] for q in pts]
      if integer:
        cx, cy = (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2
        ax, ay = (max(xs) - min(xs)) // 2, (max(ys) - min(ys)) // 2
      else:
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        ax, ay = (max(xs) - min(xs)) / 2, (max(ys) - min(ys)) / 2
      ax, ay = max(ax, min_sigma), max(ay, min_sigma)
      g = np.exp(-((xx - cx) ** 2 / (2 * ax ** 2) + (yy - cy) ** 2 / (2 * ay ** 2)))
      total += np.clip(g, 0, 1)
  return np.clip(total, 0, 1)
