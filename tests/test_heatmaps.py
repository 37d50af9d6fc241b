"""Body-part heatmaps: against hand-computed values and a per-pixel port of the reference."""

import math

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import heatmaps as hm
from tests.heatmap_reference import PARTS
from tests.heatmap_reference import reference_heatmap

def one_part(joints_xy, num_people=1):
  """kpts/vis with only the given {joint: (x, y)} visible."""
  kpts = np.full((num_people, 16, 2), -1000.0)
  vis = np.zeros((num_people, 16), np.int32)
  for j, xy in joints_xy.items():
    kpts[:, j] = xy
    vis[:, j] = 1
  return kpts, vis


def random_people(rng, num_people, height, width, p_vis=0.7, margin=10):
  """Uniform random joints (some off-grid, some negative), random visibility."""
  kpts = rng.uniform([-margin, -margin], [width + margin, height + margin], (num_people, 16, 2))
  vis = (rng.uniform(size=(num_people, 16)) < p_vis).astype(np.int32)
  return kpts, vis


def non_degenerate_people(rng, num_people, height, width):
  """Random people none of whose drawn parts has a zero integer axis (the reference's NaN)."""
  people = []
  while len(people) < num_people:
    k, v = random_people(rng, 1, height, width)
    ok = True
    for joints in PARTS:
      pts = np.array([[int(k[0, j, 0]), int(k[0, j, 1])] for j in joints if v[0, j] > 0])
      if len(pts) >= 2 and ((pts.max(0) - pts.min(0)) // 2 == 0).any():
        ok = False
    if ok:
      people.append((k, v))
  if not people:
    return np.zeros((0, 16, 2)), np.zeros((0, 16), np.int32)
  return np.concatenate([p[0] for p in people]), np.concatenate([p[1] for p in people])


def mpii_like(rng, num_people, height=720, width=1280):
  """Standing people (pelvis-centred template in person heights), rotated and jittered."""
  template = np.array([
      [-0.10, 0.50], [-0.08, 0.25], [-0.08, 0.0], [0.08, 0.0], [0.08, 0.25], [0.10, 0.50],
      [0.0, 0.0], [0.0, -0.30], [0.0, -0.36], [0.0, -0.50], [-0.22, 0.0], [-0.20, -0.15],
      [-0.12, -0.30], [0.12, -0.30], [0.20, -0.15], [0.22, 0.0]])
  kpts = []
  for _ in range(num_people):
    size = rng.uniform(150, 600)
    a = rng.uniform(-0.5, 0.5)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = (template + rng.normal(0, 0.04, template.shape)) @ rot.T * size
    kpts.append(pts + rng.uniform([0, 0], [width, height]))
  kpts = np.clip(np.array(kpts).reshape(num_people, 16, 2), 0, [width - 1, height - 1])
  vis = (rng.uniform(size=(num_people, 16)) < 0.85).astype(np.int32)
  return kpts, vis


def test_tables():
  assert len(hm.MPII_JOINTS) == 16 and len(set(hm.MPII_JOINTS)) == 16
  assert hm.MPII_JOINTS[0] == "right_ankle" and hm.MPII_JOINTS[9] == "head_top"
  assert hm.MPII_JOINTS[15] == "left_wrist"
  assert tuple(j for _, j in hm.BODY_PARTS) == PARTS
  assert [n for n, _ in hm.BODY_PARTS][:2] == ["head", "torso"]


@pytest.mark.parametrize("fidelity", [False, True])
def test_peak_is_one_at_the_part_centre(fidelity):
  # Right lower leg (1, 0, 2) with two visible joints -> box x 10..30, y 4..24.
  kpts, vis = one_part({0: (10.0, 24.0), 2: (30.0, 4.0)})
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity)
  assert heat.shape == (40, 64) and heat.dtype == np.float32
  y, x = np.unravel_index(np.argmax(heat), heat.shape)
  assert (x, y) == (20, 14)
  assert heat[14, 20] == pytest.approx(1.0, abs=1e-6)
  # Three visible head joints (7, 8, 9; 7 alone in torso and upper arms): box x 6..16, y 2..30.
  kpts, vis = one_part({8: (6.0, 2.0), 9: (16.0, 20.0), 7: (9.0, 30.0)})
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity)
  assert np.unravel_index(np.argmax(heat), heat.shape) == (16, 11)
  assert heat.max() == pytest.approx(1.0, abs=1e-6)


def test_sigma_is_the_half_extent_fast():
  # Box x 10..30 (sx = 10, cx = 20), y 4..25 (sy = 10.5, cy = 14.5).
  kpts, vis = one_part({0: (10.0, 25.0), 2: (30.0, 4.0)})
  heat = hm.heatmap_numpy(kpts, vis, 40, 64)
  gy = math.exp(-0.5 * (0.5 / 10.5) ** 2)  # row 14 is half a pixel from cy
  assert heat[14, 30] == pytest.approx(math.exp(-0.5) * gy, abs=1e-6)
  assert heat[14, 10] == pytest.approx(math.exp(-0.5) * gy, abs=1e-6)
  assert heat[25, 20] == pytest.approx(math.exp(-0.5 * (10.5 / 10.5) ** 2), abs=1e-6)
  assert heat[14, 20] == pytest.approx(gy, abs=1e-6)


def test_sigma_is_the_half_extent_fidelity_integer_math():
  # Truncation: x 10.9 -> 10, 31.7 -> 31; y 4.2 -> 4, 25.9 -> 25.
  # cx = 41 // 2 = 20, ax = 21 // 2 = 10; cy = 29 // 2 = 14, ay = 21 // 2 = 10.
  kpts, vis = one_part({0: (10.9, 25.9), 2: (31.7, 4.2)})
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=True)
  assert heat[14, 20] == pytest.approx(1.0, abs=1e-6)
  assert heat[14, 30] == pytest.approx(math.exp(-0.5), abs=1e-6)
  assert heat[24, 20] == pytest.approx(math.exp(-0.5), abs=1e-6)
  assert heat[24, 30] == pytest.approx(math.exp(-1.0), abs=1e-6)
  # Negative coordinates truncate toward zero (int(-3.7) = -3), and // floors: x -3..8 ->
  # cx = 5 // 2 = 2, ax = 11 // 2 = 5; y -6..13 (int(-6.5) = -6) -> cy = 3, ay = 19 // 2 = 9.
  kpts, vis = one_part({0: (-3.7, 13.2), 2: (8.9, -6.5)})
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=True)
  assert np.unravel_index(np.argmax(heat), heat.shape) == (3, 2)
  assert heat[3, 7] == pytest.approx(math.exp(-0.5), abs=1e-6)
  assert heat[12, 2] == pytest.approx(math.exp(-0.5), abs=1e-6)


@pytest.mark.parametrize("fidelity", [False, True])
def test_parts_with_fewer_than_two_visible_joints_contribute_nothing(fidelity):
  # One visible joint per person; every other joint is at a plausible spot but invisible.
  rng = np.random.default_rng(0)
  kpts, _ = random_people(rng, 3, 40, 64)
  vis = np.zeros((3, 16), np.int32)
  vis[:, 7] = 1
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity)
  np.testing.assert_array_equal(heat, 0)
  # Invisible joints' coordinates are ignored, even NaN/huge ones.
  kpts[:, :7] = np.nan
  kpts[:, 8:] = 1e30
  np.testing.assert_array_equal(hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity), 0)
  np.testing.assert_array_equal(hm.heatmap_tf(kpts, vis, 40, 64, fidelity=fidelity), 0)
  # No people at all.
  for f in (hm.heatmap_numpy, hm.heatmap_tf):
    heat = np.asarray(f(np.zeros((0, 16, 2)), np.zeros((0, 16)), 40, 64, fidelity=fidelity))
    assert heat.shape == (40, 64) and heat.dtype == np.float32
    np.testing.assert_array_equal(heat, 0)


@pytest.mark.parametrize("fidelity", [False, True])
def test_union_is_clipped(fidelity):
  # The same person three times: every pixel of the (unclipped) sum is tripled.
  kpts = np.random.default_rng(1).uniform([22, 12], [38, 24], (1, 16, 2))
  vis = np.ones((1, 16), np.int32)
  single = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity)
  triple = hm.heatmap_numpy(np.repeat(kpts, 3, 0), np.repeat(vis, 3, 0), 40, 64,
                            fidelity=fidelity)
  assert triple.max() == 1.0 and triple.min() >= 0.0
  assert (triple == 1.0).sum() > (single == 1.0).sum()
  np.testing.assert_allclose(triple, np.minimum(3 * single, 1.0), atol=1e-5)
  # Two overlapping identical parts saturate at exactly 1 at the shared centre.
  kpts, vis = one_part({0: (10.0, 24.0), 2: (30.0, 4.0)}, num_people=2)
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=fidelity)
  assert heat[14, 20] == 1.0 and heat.max() == 1.0
  assert heat[14, 30] == pytest.approx(min(2 * math.exp(-0.5), 1.0))


@pytest.mark.parametrize("fidelity", [False, True])
@pytest.mark.parametrize("min_sigma", [1.0, 0.5, 0.0])
def test_zero_width_parts_are_finite(fidelity, min_sigma):
  # Right lower leg (knee, ankle; the hip is invisible): shared x = 20, a vertical shin in
  # fast mode; in fidelity mode x truncates to 20 too. Head (8, 9): shared y = 5.
  kpts, vis = one_part({1: (20.0 if not fidelity else 20.3, 10.0),
                        0: (20.0 if not fidelity else 20.6, 30.0),
                        8: (30.0, 5.0), 9: (40.0, 5.0)})
  for f in (hm.heatmap_numpy, hm.heatmap_tf):
    heat = np.asarray(f(kpts, vis, 40, 64, min_sigma=min_sigma, fidelity=fidelity))
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
    # The reference's NaN stripe would black out the other part: it must be intact here.
    assert heat[5, 35] == pytest.approx(1.0, abs=1e-6)
  heat = hm.heatmap_numpy(kpts, vis, 40, 64, min_sigma=min_sigma, fidelity=fidelity)
  # Vertical shin at x = 20, y 10..30: cy = 20, sigma_x = max(0, min_sigma).
  expected = math.exp(-0.5 / min_sigma ** 2) if min_sigma else 0.0
  assert heat[20, 20] == pytest.approx(1.0, abs=1e-6)
  assert heat[20, 21] == pytest.approx(expected, abs=1e-6)
  assert heat[20, 19] == pytest.approx(expected, abs=1e-6)
  if min_sigma == 0:
    # sigma -> 0 limit: each part is exactly its centre line.
    assert (heat[10:31, 20] > 0).all() and (heat[5, 30:41] > 0).all()
    off_lines = np.delete(np.delete(heat, 20, axis=1), 5, axis=0)
    np.testing.assert_array_equal(off_lines, 0)


@pytest.mark.parametrize("fidelity", [False, True])
def test_tf_matches_numpy(fidelity):
  rng = np.random.default_rng(2)
  for p in (0, 1, 2, 5):
    kpts, vis = random_people(rng, p, 40, 64)
    for min_sigma in (1.0, 0.0):
      a = hm.heatmap_numpy(kpts, vis, 40, 64, min_sigma=min_sigma, fidelity=fidelity)
      b = hm.heatmap_tf(kpts, vis, 40, 64, min_sigma=min_sigma, fidelity=fidelity)
      assert b.dtype == tf.float32 and b.shape == (40, 64)
      np.testing.assert_allclose(b.numpy(), a, atol=1e-5)


@pytest.mark.parametrize("mode", ["fast", "fidelity"])
def test_tf_in_dataset_map_with_variable_people(mode):
  rng = np.random.default_rng(3)
  examples = [random_people(rng, p, 72, 128) for p in (2, 0, 1, 3)]
  src, dst = (72, 128), (24, 40)

  def gen():
    for k, v in examples:
      yield k.astype(np.float32), v, np.array(src, np.int32)

  ds = tf.data.Dataset.from_generator(gen, output_signature=(
      tf.TensorSpec([None, 16, 2], tf.float32), tf.TensorSpec([None, 16], tf.int32),
      tf.TensorSpec([2], tf.int32)))
  fidelity = mode == "fidelity"
  # src_hw is a dynamic tensor, as when an image's size is read from its record.
  ds = ds.map(lambda k, v, hw: (hm.heatmap_tf(k, v, 72, 128, fidelity=fidelity),
                                hm.heatmap_for_image_tf(k, v, (hw[0], hw[1]), dst, mode=mode)))
  outs = list(ds.as_numpy_iterator())
  assert len(outs) == len(examples)
  for (k, v), (full, small) in zip(examples, outs):
    k = k.astype(np.float32)
    np.testing.assert_allclose(full, hm.heatmap_numpy(k, v, 72, 128, fidelity=fidelity),
                               atol=1e-5)
    assert small.shape == dst
    np.testing.assert_allclose(small, hm.heatmap_for_image(k, v, src, dst, mode=mode),
                               atol=1e-5)


def test_fidelity_matches_per_pixel_reference():
  rng = np.random.default_rng(4)
  for p in (1, 2, 3):
    kpts, vis = non_degenerate_people(rng, p, 40, 64)
    with np.errstate(divide="raise", invalid="raise"):
      expected = reference_heatmap(kpts, vis, 40, 64)
    assert expected.max() > 0.5
    got = hm.heatmap_numpy(kpts, vis, 40, 64, min_sigma=0.0, fidelity=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    got_tf = hm.heatmap_tf(kpts, vis, 40, 64, min_sigma=0.0, fidelity=True)
    np.testing.assert_allclose(got_tf.numpy(), expected, atol=1e-5)
    # min_sigma = 1 changes nothing when every axis is >= 1.
    np.testing.assert_allclose(hm.heatmap_numpy(kpts, vis, 40, 64, fidelity=True), expected,
                               atol=1e-5)


def test_fast_is_close_to_fidelity_at_224():
  rng = np.random.default_rng(5)
  diffs = []
  for i in range(12):
    kpts, vis = mpii_like(rng, 1 + i % 3)
    fast = hm.heatmap_for_image(kpts, vis, (720, 1280), (224, 224), mode="fast")
    fid = hm.heatmap_for_image(kpts, vis, (720, 1280), (224, 224), mode="fidelity")
    assert fast.shape == fid.shape == (224, 224) and fast.dtype == fid.dtype == np.float32
    assert fid.max() > 0.9 and fast.max() > 0.9
    diffs.append(np.abs(fast - fid))
    big = np.abs(fast - fid) > 0.2
    # Every large difference is a thin limb, whose full-resolution sigma is below a 224
    # pixel: fidelity's ridge is averaged down by the resize filter, fast mode's sigma is
    # floored at 1 pixel and keeps its peak. So there fast > fidelity, never the reverse.
    assert (fast[big] > fid[big]).all()
  diffs = np.stack(diffs)
  # Measured on these 12 images (fixed seed): mean 0.0021, 99th percentile 0.038, max 0.675
  # (benchmarks/heatmaps.py, 200 images: mean 0.002, p99 0.036, max 0.81).
  assert diffs.mean() < 0.0025
  assert np.quantile(diffs, 0.99) < 0.045
  assert diffs.max() < 0.7


def edge_people(height, width):
  """Real-format people (as in the released files) with visible joints past every edge."""
  rng = np.random.default_rng(7)
  kpts = np.zeros((3, 16, 2))
  for p in range(3):
    kpts[p] = mpii_like(rng, 1, height, width)[0][0]
  vis = np.ones((3, 16), np.int32)
  kpts[0, 9] = [0.4 * width, -0.78]          # head top above the image (a real MPII case)
  kpts[0, 15] = [-2.3, 0.5 * height]         # left wrist past the left edge
  kpts[1, 10] = [width + 1.7, 0.5 * height]  # right wrist past the right edge
  kpts[1, 0] = [0.5 * width, height + 2.2]   # right ankle below the bottom edge
  kpts[2, 0] = [-12.0, height + 9.5]         # far past a corner
  kpts[:, 5], vis[:, 5] = -1.0, 0            # left ankle not annotated: [-1, -1], kpts_vis 0
  return kpts, vis


def test_joints_outside_the_image_are_drawn_clipped():
  h, w = 40, 64
  kpts, vis = edge_people(h, w)
  # Fidelity (reference arithmetic), numpy and tf: the per-pixel reference port on the image
  # grid, with every kpts_vis = 1 joint drawn wherever it lies.
  want = reference_heatmap(kpts, vis, h, w, min_sigma=1.0)
  assert want.max() == 1.0
  np.testing.assert_allclose(hm.heatmap_numpy(kpts, vis, h, w, fidelity=True), want, atol=1e-5)
  np.testing.assert_allclose(hm.heatmap_tf(kpts, vis, h, w, fidelity=True), want, atol=1e-5)
  # Fast (float box), numpy and tf.
  want = reference_heatmap(kpts, vis, h, w, min_sigma=1.0, integer=False)
  np.testing.assert_allclose(hm.heatmap_numpy(kpts, vis, h, w), want, atol=1e-5)
  np.testing.assert_allclose(hm.heatmap_tf(kpts, vis, h, w), want, atol=1e-5)
  # Clipping is the same on all four sides: the map is the image window of the map on a
  # canvas 10 px larger on every side (fast mode; fidelity's int() truncates toward zero, so
  # there a shift by 10 is not exact for negative coordinates -- the port above covers it).
  canvas = hm.heatmap_numpy(kpts + 10, vis, h + 20, w + 20)
  np.testing.assert_allclose(hm.heatmap_numpy(kpts, vis, h, w), canvas[10:-10, 10:-10],
                             atol=1e-6)
  assert canvas[:10].max() > 0.1 and canvas[-10:].max() > 0.1      # there is content past
  assert canvas[:, :10].max() > 0.1 and canvas[:, -10:].max() > 0.1  # every edge to clip
  # Through the resolution change, numpy and tf, both modes.
  for mode in ("fast", "fidelity"):
    a = hm.heatmap_for_image(kpts, vis, (h, w), (20, 32), mode=mode)
    b = hm.heatmap_for_image_tf(kpts, vis, (h, w), (20, 32), mode=mode)
    np.testing.assert_allclose(b.numpy(), a, atol=1e-5)
  scaled = (kpts + 0.5) * np.array([32 / w, 20 / h]) - 0.5
  np.testing.assert_allclose(
      hm.heatmap_for_image(kpts, vis, (h, w), (20, 32), mode="fast"),
      reference_heatmap(scaled, vis, 20, 32, min_sigma=1.0, integer=False), atol=1e-5)


def test_people_outside_image():
  h, w = 40, 64
  kpts, vis = edge_people(h, w)
  # Joints slightly outside (kpts_vis 1) do not make a person outside.
  np.testing.assert_array_equal(hm.people_outside_image(kpts, vis, h, w), False)
  # Moved entirely past each edge: outside.
  for shift in ([w + 100, 0], [-w - 100, 0], [0, h + 100], [0, -h - 100]):
    np.testing.assert_array_equal(hm.people_outside_image(kpts + shift, vis, h, w), True)
  # Boundaries of the image area [-0.5, w - 0.5] x [-0.5, h - 0.5]: a lone visible joint.
  k, v = one_part({9: (0.0, 0.0)})
  for xy, out in (((-0.5, 5), False), ((-0.51, 5), True), ((w - 0.5, 5), False),
                  ((w - 0.49, 5), True), ((5, h - 0.5), False), ((5, -0.6), True)):
    k[0, 9] = xy
    assert hm.people_outside_image(k, v, h, w)[0] == out, xy
  # No joint inside, but a part's box spans the image (shoulders above, hips below): inside.
  k, v = one_part({12: (20.0, -5.0), 13: (40.0, -5.0), 2: (20.0, h + 5.0), 3: (40.0, h + 5.0)})
  assert not hm.people_outside_image(k, v, h, w)[0]
  assert hm.heatmap_numpy(k, v, h, w).max() > 0.5
  # Head top above, right ankle below: no part holds both, nothing drawable: outside.
  k, v = one_part({9: (20.0, -5.0), 0: (40.0, h + 5.0)})
  assert hm.people_outside_image(k, v, h, w)[0]
  # No visible joint at all: not judged (it draws nothing either way); no people: empty.
  assert not hm.people_outside_image(k, np.zeros_like(v), h, w)[0]
  assert hm.people_outside_image(np.zeros((0, 16, 2)), np.zeros((0, 16)), h, w).shape == (0,)


def test_visible_non_finite_keypoints_are_an_error():
  kpts, vis = one_part({0: (10.0, 24.0), 2: (30.0, 4.0)})
  for bad in (np.nan, np.inf, -np.inf):
    k = kpts.copy()
    k[0, 2, 1] = bad
    for fidelity in (False, True):
      with pytest.raises(ValueError, match="visible keypoint 2 of person 0 is not finite"):
        hm.heatmap_numpy(k, vis, 40, 64, fidelity=fidelity)
      with pytest.raises(tf.errors.InvalidArgumentError, match="not finite"):
        hm.heatmap_tf(k, vis, 40, 64, fidelity=fidelity)
    with pytest.raises(ValueError, match="not finite"):
      hm.people_outside_image(k, vis, 40, 64)
    k[0, 2] = -1.0  # made unannotated instead: fine
    v = vis.copy()
    v[0, 2] = 0
    assert np.isfinite(hm.heatmap_numpy(k, v, 40, 64)).all()


def test_fidelity_resize_of_the_full_resolution_map():
  rng = np.random.default_rng(6)
  kpts, vis = mpii_like(rng, 2, 90, 160)
  full = hm.heatmap_numpy(kpts, vis, 90, 160, fidelity=True)
  small = hm.heatmap_for_image(kpts, vis, (90, 160), (45, 80), mode="fidelity")
  # An exact 2x downscale with the antialiased triangle filter: weights 1/8, 3/8, 3/8, 1/8
  # centred between pixel pairs (edges renormalised); check an interior pixel by hand.
  w = np.array([1, 3, 3, 1]) / 8
  y, x = 20, 40
  expected = w @ full[2 * y - 1:2 * y + 3, 2 * x - 1:2 * x + 3] @ w
  assert small[y, x] == pytest.approx(expected, abs=1e-5)


def test_scale_keypoints():
  src, dst = (720, 1280), (224, 224)
  # Image corners (pixel edges) map onto corners, the centre onto the centre.
  pts = np.array([[-0.5, -0.5], [1279.5, 719.5], [639.5, 359.5], [0.0, 0.0]])
  got = hm.scale_keypoints(pts, src, dst)
  expected = [[-0.5, -0.5], [223.5, 223.5], [111.5, 111.5],
              [0.5 * 224 / 1280 - 0.5, 0.5 * 224 / 720 - 0.5]]
  np.testing.assert_allclose(got, expected, atol=1e-9)
  # Upscaling by 2: pixel centre 0 -> 0.5, 1 -> 2.5.
  np.testing.assert_allclose(hm.scale_keypoints([[0.0, 1.0]], (10, 10), (20, 20)), [[0.5, 2.5]])
  got_tf = hm.scale_keypoints(tf.constant(pts), tf.constant(src), dst)
  np.testing.assert_allclose(got_tf.numpy(), expected, atol=1e-9)


def test_fast_mode_is_evaluated_on_scaled_keypoints():
  # Box (in 1280x720) x 320..960, y 180..540 -> in 224x224: x 55.95..167.95, y 55.84..167.84.
  kpts, vis = one_part({0: (320.0, 540.0), 2: (960.0, 180.0)})
  heat = hm.heatmap_for_image(kpts, vis, (720, 1280), (224, 224), mode="fast")
  s = hm.scale_keypoints(np.array([[320.0, 540.0], [960.0, 180.0]]), (720, 1280), (224, 224))
  (x0, y1), (x1, y0) = s
  cx, cy, sx, sy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
  for y, x in ((112, 112), (100, 150), (30, 200)):
    expected = math.exp(-0.5 * ((x - cx) ** 2 / sx ** 2 + (y - cy) ** 2 / sy ** 2))
    assert heat[y, x] == pytest.approx(expected, abs=1e-6)


def test_bad_arguments():
  kpts, vis = one_part({0: (1.0, 2.0), 2: (5.0, 6.0)})
  with pytest.raises(ValueError, match="mode"):
    hm.heatmap_for_image(kpts, vis, (10, 10), (5, 5), mode="exact")
  with pytest.raises(ValueError, match="min_sigma"):
    hm.heatmap_numpy(kpts, vis, 10, 10, min_sigma=-1.0)
