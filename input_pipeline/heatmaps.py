"""Person heatmaps from MPII keypoints: the "focus" that FocusCLIP highlights.

The reference (``src/utils/create_heatmaps.py``, docs/method.md §2) groups MPII's 16 joints into
10 body parts (``BODY_PARTS``). For every annotated person and every part with >= 2 visible
joints it puts an axis-aligned, peak-1 Gaussian

  G(x, y) = exp(-[(x - cx)^2 / (2 sx^2) + (y - cy)^2 / (2 sy^2)])

at the centre of the visible joints' bounding box, with (sx, sy) = half the box's width and
height, on the full-resolution pixel grid (x = 0..W-1, y = 0..H-1). Part maps are summed over
parts and people and the sum is clipped to [0, 1] (the reference also clips each part map,
a no-op since each peaks at 1).

Why not a port of the loops: the reference runs ``exp`` over a full H x W grid for each of the
10 * P parts (~20M ``exp`` per 1280x720 image). Here all parts of all people are evaluated at
once, using separability: an axis-aligned Gaussian is gx(x) * gy(y), so the sum of the N = 10 P
part maps is a single [H, N] @ [N, W] matmul of 1-D profiles (N (H + W) ``exp``). Parts with
< 2 visible joints get weight 0 (a mask, no branching), with safe placeholder boxes so that
nothing is ever 0/0.

Two modes (``config.data.heatmap_mode``):

* ``fast``: evaluate directly at the model resolution. Keypoints are
  mapped with ``scale_keypoints`` (pixel-centre convention, as bilinear resizing), the box is
  measured on the mapped float keypoints: centre (min + max) / 2, sigma = max(half extent,
  min_sigma), min_sigma in *model* pixels.
* ``fidelity`` (the config default): the reference pipeline: the reference's integer
  arithmetic (joints truncated toward zero like Python ``int()``, centre (min + max) // 2,
  axes (max - min) // 2) at the
  original resolution, then resized to the model resolution with
  ``tf.image.resize(method='bilinear', antialias=True)`` (a triangle filter widened by the
  downscale factor, i.e. what PIL's bilinear ``resize`` does; chosen over PIL so the numpy and
  tf.data paths are the same op). min_sigma is in *original* pixels here. Not modelled: the
  reference's 8-bit PNG round trip (<= 1/510 per pixel). With min_sigma = 0 and no zero-width
  part, ``heatmap_numpy(..., fidelity=True)`` equals the reference to float32 precision.

The reference bug being fixed: a part whose visible joints share an integer x (or y) has axis
0, and the reference divides by it: +inf (-> 0) off the centre column and 0/0 = NaN on it; the
NaN survives the sums and the clip and becomes a 1-px black stripe across the whole heatmap
(over other parts too). Here sigma = max(axis, min_sigma) (default 1 px), and with
min_sigma = 0 a zero sigma is taken as the sigma -> 0 limit (1 on the centre line, 0
elsewhere) rather than NaN. No output is ever NaN.

Fast and fidelity maps differ mostly at thin, near-axis-aligned limbs whose half-width at full
resolution is below one model pixel: fidelity's resize averages the thin ridge down, while fast
mode floors sigma at 1 model pixel and keeps its peak at 1. With min_sigma = 0,
``heatmap_numpy(fidelity=True)`` equals the reference (to 3e-7) wherever it is finite. The
measured differences and the speed of each path against the reference algorithm are in
BENCHMARKS.md ("Heatmaps"; ``python benchmarks/heatmaps.py``).

``heatmap_from_groups`` is the fast mode for any keypoint layout and grouping (used for CUB's
15 bird parts, ``input_pipeline/eval_datasets/cub.py``).

Coordinates are taken as given: the MPII json of mmpose/HRNet stores MATLAB 1-based pixels and
the reference does not subtract 1, so neither does this module.

Joints outside the image: visibility alone decides whether a joint counts (as in the
reference); a visible joint may lie past any image edge (MPII has e.g. a head top at
y = -0.78 with visibility 1). Its parts are evaluated like any other, on the image's pixel grid
only, so they are clipped to the image the same way on all four sides, in both modes and in
the tf path. ``people_outside_image`` tells which people cannot show in the image at all.
Visible joints must be finite (a NaN would spread over the whole map): ``heatmap_numpy``
raises ``ValueError`` and the tf functions fail an ``assert_all_finite`` otherwise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from input_pipeline.mpii_joints import BODY_PARTS
from input_pipeline.mpii_joints import MPII_JOINTS

MODES = ("fast", "fidelity")

# [10, 16] part membership.
_PART_MASK = np.zeros((len(BODY_PARTS), len(MPII_JOINTS)), bool)
for _i, (_, _joints) in enumerate(BODY_PARTS):
  _PART_MASK[_i, list(_joints)] = True
del _i, _joints

# Sentinel for masked-out joints in integer min/max (far beyond any image, no overflow in sums).
_BIG = 2**40
# Profile values below exp(-_MAX_Q) ~ 1e-12 are set to 0: far tails would otherwise be float32
# subnormals (and products of tails underflow), which x86 CPUs compute on a slow path.
_MAX_Q = 27.6
_MIN_G = np.float32(np.exp(-_MAX_Q))


def _check(min_sigma: float, mode: str | None = None):
  if not min_sigma >= 0:
    raise ValueError(f"min_sigma must be >= 0, got {min_sigma}")
  if mode is not None and mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


# ------------------------------------------------------------------------------------- numpy


def _boxes_numpy(kpts, vis, fidelity: bool, part_mask: np.ndarray = _PART_MASK):
  """-> centres [N, 2], half extents [N, 2] (float64), weights [N] (1 = part drawn), N = G P.

  part_mask: bool [G, J] group membership (default: MPII's [10, 16] ``BODY_PARTS``).
  """
  num_joints = part_mask.shape[1]
  kpts = np.asarray(kpts, np.float64).reshape(-1, num_joints, 2)
  visible = np.asarray(vis).reshape(-1, num_joints) > 0
  bad = visible & ~np.isfinite(kpts).all(-1)
  if bad.any():
    p, j = np.argwhere(bad)[0]
    raise ValueError(f"visible keypoint {j} of person {p} is not finite ({kpts[p, j].tolist()}):"
                     " mark non-finite keypoints invisible (visibility 0) before drawing")
  sel = (visible[:, None, :] & part_mask[None])[..., None]            # [P, G, J, 1]
  valid = sel[..., 0].sum(-1) >= 2                                    # [P, 10]
  pts = np.where(visible[..., None], kpts, 0.0)[:, None]              # [P, 1, 16, 2]
  if fidelity:
    pts = np.trunc(pts).astype(np.int64)
    lo = np.where(sel, pts, _BIG).min(2)                              # [P, 10, 2]
    hi = np.where(sel, pts, -_BIG).max(2)
    lo = np.where(valid[..., None], lo, 0)
    hi = np.where(valid[..., None], hi, 0)
    centre, half = (lo + hi) // 2, (hi - lo) // 2
  else:
    lo = np.where(sel, pts, np.inf).min(2)
    hi = np.where(sel, pts, -np.inf).max(2)
    lo = np.where(valid[..., None], lo, 0.0)
    hi = np.where(valid[..., None], hi, 0.0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
  return (centre.reshape(-1, 2).astype(np.float64), half.reshape(-1, 2).astype(np.float64),
          valid.reshape(-1).astype(np.float32))


def _profiles_numpy(n: int, centre, sigma):
  """1-D Gaussian profiles [..., n] at 0..n-1; sigma 0 -> the limit (1 at the centre, else 0).

  d = x - centre is taken in float64 (centres need not be exactly representable in float32),
  the rest in float32 (numpy's float32 exp is several times faster; errors ~1e-7).
  """
  pos = sigma > 0
  d = (np.arange(n, dtype=np.float64) - centre[..., None]).astype(np.float32)
  q = d * (1.0 / np.where(pos, sigma, 1.0)).astype(np.float32)[..., None]
  np.square(q, out=q)                 # in place from here: the hot loop of the fast path
  np.multiply(q, np.float32(-0.5), out=q)
  np.maximum(q, np.float32(-_MAX_Q), out=q)
  np.exp(q, out=q)
  q[q <= _MIN_G] = 0.0
  if not pos.all():
    q = np.where(pos[..., None], q, d == 0).astype(np.float32)
  return q


def heatmap_numpy(kpts, vis, height: int, width: int, *, min_sigma: float = 1.0,
                  fidelity: bool = False) -> np.ndarray:
  """The union of the people's body-part Gaussians on a height x width grid.

  Args:
    kpts: float [P, 16, 2] (x, y) pixel coordinates on the grid being evaluated (P may be 0).
    vis: [P, 16] visibility (> 0 = visible); invisible joints' coordinates are ignored.
    height: grid height; Gaussians are evaluated at y = 0..height-1.
    width: grid width; x = 0..width-1.
    min_sigma: floor of each sigma, in grid pixels (0: zero-width parts are lines, never NaN).
    fidelity: False: float centre (min + max) / 2 and sigma = max((max - min) / 2, min_sigma).
      True: the reference's integer arithmetic (joints truncated toward zero, centre
      (min + max) // 2, axes (max - min) // 2), then sigma = max(axis, min_sigma).

  Returns:
    float32 [height, width] in [0, 1].
  """
  _check(min_sigma)
  centre, half, w = _boxes_numpy(kpts, vis, fidelity)
  sigma = np.maximum(half, min_sigma)
  g = _profiles_numpy(max(height, width), centre, sigma)              # [N, 2, max(H, W)]
  gx, gy = g[:, 0, :width], g[:, 1, :height] * w[:, None]
  heat = gy.T @ gx                                                    # [H, W]
  return np.clip(heat, 0.0, 1.0, out=heat)


def heatmap_from_groups(points, vis, groups: Sequence[Sequence[int]], height: int, width: int,
                        *, min_sigma: float = 1.0) -> np.ndarray:
  """``heatmap_numpy`` (fast mode) for any keypoint layout and grouping (e.g. CUB bird parts).

  For every instance and every group with >= 2 visible points: a peak-1 axis-aligned Gaussian
  at the centre (min + max) / 2 of the visible points' box, sigma = max(half extent,
  min_sigma) per axis; summed over groups and instances, clipped to [0, 1]. A group with < 2
  visible points contributes nothing (callers wanting a blob for a lone point can pass a
  2-point group p -/+ s, whose box gives centre p and sigma s). With the MPII ``BODY_PARTS``
  groups this is ``heatmap_numpy(..., fidelity=False)`` exactly (the same code path).

  Args:
    points: float [P, J, 2] (x, y) on the grid being evaluated (P may be 0).
    vis: [P, J] visibility (> 0 = visible).
    groups: G sequences of point indices in [0, J) (a group may repeat indices of others).
    height: grid height.
    width: grid width.
    min_sigma: floor of each sigma, in grid pixels.

  Returns:
    float32 [height, width] in [0, 1].
  """
  _check(min_sigma)
  points = np.asarray(points, np.float64)
  num_joints = points.shape[-2] if points.ndim >= 2 else 0
  mask = np.zeros((len(groups), num_joints), bool)
  for i, joints in enumerate(groups):
    joints = list(joints)
    if joints and (min(joints) < 0 or max(joints) >= num_joints):
      raise ValueError(f"group {i} {tuple(joints)} indexes outside [0, {num_joints})")
    mask[i, joints] = True
  centre, half, w = _boxes_numpy(points, vis, False, mask)
  sigma = np.maximum(half, min_sigma)
  g = _profiles_numpy(max(height, width), centre, sigma)              # [N, 2, max(H, W)]
  gx, gy = g[:, 0, :width], g[:, 1, :height] * w[:, None]
  heat = gy.T @ gx                                                    # [H, W]
  return np.clip(heat, 0.0, 1.0, out=heat)


def people_outside_image(kpts, vis, height: int, width: int) -> np.ndarray:
  """bool [P]: the people that cannot show in a height x width image.

  A person is *outside the image* when it has visible joints, none of them lies in the image
  area [-0.5, width - 0.5] x [-0.5, height - 0.5] (pixel centres 0..width-1 and
  0..height-1, the convention of ``scale_keypoints``), and the joint box of none of its
  drawable body parts (>= 2 visible joints; box = min..max of their float coordinates) overlaps
  that area. Everything else is *in the image*, in particular a person with one joint slightly
  past an edge (its parts are drawn clipped to the image). A person without visible joints is
  not outside (it draws nothing anyway). Visible joints must be finite.

  Args:
    kpts: float [P, 16, 2] (x, y) pixel coordinates of the image.
    vis: [P, 16] visibility (> 0 = visible).
    height: image height.
    width: image width.
  """
  kpts = np.asarray(kpts, np.float64).reshape(-1, len(MPII_JOINTS), 2)
  visible = np.asarray(vis).reshape(-1, len(MPII_JOINTS)) > 0
  centre, half, drawn = _boxes_numpy(kpts, visible, False)            # validates finiteness
  size = np.array([width, height], np.float64)
  lo = (centre - half).reshape(-1, len(BODY_PARTS), 2)
  hi = (centre + half).reshape(-1, len(BODY_PARTS), 2)
  part_in = ((hi >= -0.5) & (lo <= size - 0.5)).all(-1) & (drawn.reshape(lo.shape[:2]) > 0)
  pts = np.where(visible[..., None], kpts, -np.inf)
  joint_in = ((pts >= -0.5) & (pts <= size - 0.5)).all(-1) & visible
  return visible.any(-1) & ~joint_in.any(-1) & ~part_in.any(-1)


# ---------------------------------------------------------------------------------------- tf


def _boxes_tf(kpts, vis, fidelity: bool):
  kpts = tf.reshape(tf.cast(kpts, tf.float64), [-1, len(MPII_JOINTS), 2])
  visible = tf.reshape(tf.cast(vis, tf.float32), [-1, len(MPII_JOINTS)]) > 0
  sel = tf.logical_and(visible[:, None, :], tf.constant(_PART_MASK)[None])[..., None]
  valid = tf.reduce_sum(tf.cast(sel[..., 0], tf.int32), -1) >= 2
  pts = tf.where(visible[..., None], kpts, tf.zeros_like(kpts))[:, None]
  pts = tf.debugging.assert_all_finite(
      pts, "heatmap_tf: a visible keypoint is not finite; mark it invisible (visibility 0)")
  if fidelity:
    pts = tf.cast(pts, tf.int64)                                      # truncates toward zero
    lo = tf.reduce_min(tf.where(sel, pts, tf.constant(_BIG, tf.int64)), 2)
    hi = tf.reduce_max(tf.where(sel, pts, tf.constant(-_BIG, tf.int64)), 2)
    lo = tf.where(valid[..., None], lo, tf.zeros_like(lo))
    hi = tf.where(valid[..., None], hi, tf.zeros_like(hi))
    centre, half = tf.math.floordiv(lo + hi, 2), tf.math.floordiv(hi - lo, 2)
  else:
    lo = tf.reduce_min(tf.where(sel, pts, tf.constant(np.inf, tf.float64)), 2)
    hi = tf.reduce_max(tf.where(sel, pts, tf.constant(-np.inf, tf.float64)), 2)
    lo = tf.where(valid[..., None], lo, tf.zeros_like(lo))
    hi = tf.where(valid[..., None], hi, tf.zeros_like(hi))
    centre, half = (lo + hi) / 2, (hi - lo) / 2
  return (tf.cast(tf.reshape(centre, [-1, 2]), tf.float64),
          tf.cast(tf.reshape(half, [-1, 2]), tf.float64),
          tf.cast(tf.reshape(valid, [-1]), tf.float32))


def _profiles_tf(n, centre, sigma):
  d = tf.range(tf.cast(n, tf.float64), dtype=tf.float64)[None, :] - centre[:, None]
  pos = sigma[:, None] > 0
  q = 0.5 * tf.square(d / tf.where(pos, sigma[:, None], tf.ones_like(sigma[:, None])))
  inf = tf.constant(np.inf, tf.float64)
  q = tf.where(pos, q, tf.where(tf.equal(d, 0.0), tf.zeros_like(q), inf))
  g = tf.where(q < _MAX_Q, tf.exp(-tf.minimum(q, _MAX_Q)), tf.zeros_like(q))
  return tf.cast(g, tf.float32)


def _heatmap_tf(kpts, vis, height, width, min_sigma: float, fidelity: bool) -> tf.Tensor:
  """heatmap_tf, but height and width may be scalar tensors."""
  _check(min_sigma)
  centre, half, w = _boxes_tf(kpts, vis, fidelity)
  sigma = tf.maximum(half, tf.constant(min_sigma, tf.float64))
  gx = _profiles_tf(width, centre[:, 0], sigma[:, 0])
  gy = _profiles_tf(height, centre[:, 1], sigma[:, 1])
  heat = tf.matmul(gy * w[:, None], gx, transpose_a=True)
  return tf.clip_by_value(heat, 0.0, 1.0)


def heatmap_tf(kpts, vis, height: int, width: int, *, min_sigma: float = 1.0,
               fidelity: bool = False) -> tf.Tensor:
  """``heatmap_numpy`` in TensorFlow ops (works in ``tf.data`` graph mode, P may be unknown).

  Returns:
    tf.float32 [height, width] in [0, 1], equal to ``heatmap_numpy`` to float32 round-off.
  """
  heat = _heatmap_tf(kpts, vis, height, width, min_sigma, fidelity)
  if isinstance(height, int) and isinstance(width, int):
    heat = tf.ensure_shape(heat, [height, width])
  return heat


# ------------------------------------------------------------------------------- resolution


def _is_tf(*xs) -> bool:
  return any(tf.is_tensor(x) for x in tf.nest.flatten(list(xs)))


def scale_keypoints(kpts, src_hw: Sequence[int], dst_hw: Sequence[int]):
  """Pixel coordinates of a src_h x src_w image -> those of its dst_h x dst_w resize.

  Pixel-centre convention of bilinear resizing: x' = (x + 0.5) * dst_w / src_w - 0.5 (same for
  y), so the image's edges (-0.5 and src_w - 0.5) map onto the resized image's edges.
  Numpy in, float64 numpy out; if anything is a tf tensor, tf ops (keeps a float kpts dtype).
  """
  if _is_tf(kpts, src_hw, dst_hw):
    kpts = tf.convert_to_tensor(kpts)
    dtype = kpts.dtype if kpts.dtype.is_floating else tf.float32
    kpts = tf.cast(kpts, dtype)
    f = lambda v: tf.cast(v, dtype)  # pylint: disable=unnecessary-lambda-assignment
    scale = tf.stack([f(dst_hw[1]) / f(src_hw[1]), f(dst_hw[0]) / f(src_hw[0])])
    return (kpts + 0.5) * scale - 0.5
  kpts = np.asarray(kpts, np.float64)
  scale = np.array([dst_hw[1] / src_hw[1], dst_hw[0] / src_hw[0]], np.float64)
  return (kpts + 0.5) * scale - 0.5


def _resize_tf(heat, dst_hw) -> tf.Tensor:
  out = tf.image.resize(heat[..., None], [int(dst_hw[0]), int(dst_hw[1])], method="bilinear",
                        antialias=True)[..., 0]
  return tf.clip_by_value(out, 0.0, 1.0)


def heatmap_for_image(kpts, vis, src_hw: Sequence[int], dst_hw: Sequence[int], *,
                      mode: str = "fast", min_sigma: float = 1.0) -> np.ndarray:
  """The heatmap of a src_hw image (keypoints in its pixel coordinates) at resolution dst_hw.

  Args:
    kpts: float [P, 16, 2] (x, y) in source-image pixels.
    vis: [P, 16] visibility (> 0 = visible).
    src_hw: (height, width) of the source image.
    dst_hw: (height, width) of the heatmap.
    mode: "fast": evaluated directly at dst_hw on ``scale_keypoints``-mapped keypoints
      (min_sigma in dst pixels). "fidelity": ``heatmap_numpy(fidelity=True)`` at src_hw
      (min_sigma in src pixels), then ``tf.image.resize(bilinear, antialias=True)`` to dst_hw.
    min_sigma: floor of sigma, see mode.

  Returns:
    float32 [dst_h, dst_w] in [0, 1].
  """
  _check(min_sigma, mode)
  dst_h, dst_w = int(dst_hw[0]), int(dst_hw[1])
  if mode == "fast":
    return heatmap_numpy(scale_keypoints(kpts, src_hw, dst_hw), vis, dst_h, dst_w,
                         min_sigma=min_sigma)
  heat = heatmap_numpy(kpts, vis, int(src_hw[0]), int(src_hw[1]), min_sigma=min_sigma,
                       fidelity=True)
  return _resize_tf(tf.constant(heat), (dst_h, dst_w)).numpy()


def heatmap_for_image_tf(kpts, vis, src_hw, dst_hw: Sequence[int], *, mode: str = "fast",
                         min_sigma: float = 1.0) -> tf.Tensor:
  """``heatmap_for_image`` in tf ops, for ``tf.data``: src_hw may be (dynamic) tensors.

  dst_hw must be Python ints. Returns tf.float32 [dst_h, dst_w] in [0, 1].
  """
  _check(min_sigma, mode)
  dst_h, dst_w = int(dst_hw[0]), int(dst_hw[1])
  if mode == "fast":
    kpts = scale_keypoints(tf.cast(kpts, tf.float64), src_hw, (dst_h, dst_w))
    return heatmap_tf(kpts, vis, dst_h, dst_w, min_sigma=min_sigma)
  heat = _heatmap_tf(kpts, vis, src_hw[0], src_hw[1], min_sigma, fidelity=True)
  return tf.ensure_shape(_resize_tf(heat, (dst_h, dst_w)), [dst_h, dst_w])
