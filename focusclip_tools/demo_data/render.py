"""Draws demo scenes: people (``skeleton``) doing an activity on limb-like clutter.

PIL, 2x supersampled, then box-filtered down. Limbs are thick round-capped segments, the torso a
polygon plus a thick spine, the head a filled circle; backgrounds are noisy gradients with soft
shapes and limb-like distractors in the people's palettes, so telling person from clutter needs
the body's structure (what FocusCLIP's heatmap branch teaches). Keypoints are recorded exactly
as drawn; a joint is visible unless outside the image or randomly marked occluded.
"""

from __future__ import annotations

import colorsys
import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

from focusclip_tools.demo_data.activities import Activity
from focusclip_tools.demo_data.skeleton import Body
from focusclip_tools.demo_data.skeleton import Pose
from focusclip_tools.demo_data.skeleton import body_for_age
from focusclip_tools.demo_data.skeleton import direction
from focusclip_tools.demo_data.skeleton import forward_kinematics
from focusclip_tools.demo_data.skeleton import uniform
from input_pipeline.mpii_joints import (
    HEAD_TOP, L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NUM_JOINTS, PELVIS, R_ANKLE,
    R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST, THORAX, UPPER_NECK)

SUPERSAMPLE = 2
OCCLUSION_PROB = 0.02  # per joint: marked invisible although drawn

_SKIN = ((255, 224, 189), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36),
         (92, 51, 23))
# (joints, thickness in standing heights) per limb, drawn in this order after the torso.
_LEGS = (((R_HIP, R_KNEE), 0.075), ((R_KNEE, R_ANKLE), 0.065), ((L_HIP, L_KNEE), 0.075),
         ((L_KNEE, L_ANKLE), 0.065))
_ARMS = (((R_SHOULDER, R_ELBOW), 0.055), ((R_ELBOW, R_WRIST), 0.048),
         ((L_SHOULDER, L_ELBOW), 0.055), ((L_ELBOW, L_WRIST), 0.048))


def _colour(rng, sat=(0.35, 0.9), val=(0.3, 0.95)) -> tuple[int, int, int]:
  r, g, b = colorsys.hsv_to_rgb(rng.random(), uniform(rng, *sat), uniform(rng, *val))
  return int(r * 255), int(g * 255), int(b * 255)


def _shade(c, f):
  return tuple(int(np.clip(v * f, 0, 255)) for v in c)


def _person_colours(rng) -> dict[str, tuple[int, int, int]]:
  skin = _SKIN[int(rng.integers(len(_SKIN)))]
  shirt = _colour(rng)
  return {"skin": skin, "shirt": shirt, "pants": _colour(rng, val=(0.15, 0.8)),
          "sleeve": shirt if rng.random() < 0.5 else skin,
          "hair": _colour(rng, sat=(0.2, 0.7), val=(0.05, 0.45))}


def _background(rng, w: int, h: int) -> np.ndarray:
  """uint8 [h, w, 3]: a random colour gradient plus low- and high-frequency noise."""
  c0 = np.array(_colour(rng, sat=(0.05, 0.55), val=(0.35, 0.95)), np.float32)
  c1 = np.array(_colour(rng, sat=(0.05, 0.55), val=(0.25, 0.95)), np.float32)
  a = rng.uniform(0, 2 * np.pi)
  t = (np.cos(a) * np.arange(w, dtype=np.float32)[None, :] / w +
       np.sin(a) * np.arange(h, dtype=np.float32)[:, None] / h)
  t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
  img = c0 + t[..., None] * (c1 - c0)
  low = rng.normal(0, 18, size=(5, 7, 3)).astype(np.float32)
  low_img = np.stack([np.asarray(Image.fromarray(low[..., i], mode="F").resize(
      (w, h), Image.BICUBIC)) for i in range(3)], axis=-1)
  img += low_img
  img += rng.standard_normal((h, w, 3), dtype=np.float32) * 5
  return np.clip(img, 0, 255).astype(np.uint8)


def _capsule(draw, p0, p1, width, fill):
  draw.line([tuple(p0), tuple(p1)], fill=fill, width=max(1, int(round(width))))
  r = width / 2
  for p in (p0, p1):
    draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=fill)


def _distractors(draw, rng, w, h, person_px, ss, count):
  """Limb-like clutter: thick segments, bent two-segment 'limbs', skin blobs, soft shapes."""
  for _ in range(int(rng.integers(1, 4))):  # large soft shapes (furniture, windows)
    x0, y0 = uniform(rng, -0.2, 0.9) * w, uniform(rng, -0.2, 0.9) * h
    x1, y1 = x0 + uniform(rng, 0.15, 0.5) * w, y0 + uniform(rng, 0.15, 0.5) * h
    fill = _colour(rng, sat=(0.05, 0.5), val=(0.3, 0.9))
    (draw.rectangle if rng.random() < 0.6 else draw.ellipse)(
        [x0 * ss, y0 * ss, x1 * ss, y1 * ss], fill=fill)
  for _ in range(count):
    kind = rng.random()
    if rng.random() < 0.35:
      fill = _SKIN[int(rng.integers(len(_SKIN)))]
    else:
      fill = _colour(rng)
    p0 = np.array([uniform(rng, 0, w), uniform(rng, 0, h)])
    length = uniform(rng, 0.12, 0.3) * person_px
    width = uniform(rng, 0.045, 0.08) * person_px * ss
    a = uniform(rng, 0, 360)
    if kind < 0.45:  # a single thick segment
      p1 = p0 + length * direction(a)
      _capsule(draw, p0 * ss, p1 * ss, width, fill)
    elif kind < 0.8:  # a bent two-segment limb
      p1 = p0 + length * direction(a)
      p2 = p1 + uniform(rng, 0.8, 1.0) * length * direction(a + uniform(rng, -120, 120))
      _capsule(draw, p0 * ss, p1 * ss, width, fill)
      _capsule(draw, p1 * ss, p2 * ss, width * 0.9, fill)
    else:  # a blob (head-sized or a bit larger)
      r = uniform(rng, 0.05, 0.1) * person_px * ss
      rx, ry = r * uniform(rng, 0.8, 1.6), r
      draw.ellipse([p0[0] * ss - rx, p0[1] * ss - ry, p0[0] * ss + rx, p0[1] * ss + ry],
                   fill=fill)


@dataclasses.dataclass
class RenderedPerson:
  """One person of a rendered image (image pixel coordinates, pixel centres at integers)."""

  kpts: np.ndarray  # [16, 2], rounded to 0.01
  vis: np.ndarray  # [16] int
  height_px: float  # standing height in pixels
  age: int
  head_box: tuple[float, float, float, float]  # x0, y0, x1, y1 around the head circle
  person_box: tuple[float, float, float, float]  # the whole figure (+ thickness), unclipped
  pose: Pose

  @property
  def center(self) -> list[float]:
    x0, y0, x1, y1 = self.person_box
    return [round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)]

  @property
  def scale(self) -> float:
    return round(self.height_px / 200.0, 4)


def _extent(k: np.ndarray, body: Body) -> tuple[np.ndarray, np.ndarray]:
  """Box (lo, hi) of a skeleton in standing-height units, with the head circle and limbs."""
  head_c = (k[UPPER_NECK] + k[HEAD_TOP]) / 2
  r = body.head / 2
  pts = np.concatenate([k, head_c[None] - r, head_c[None] + r])
  pad = 0.045
  return pts.min(0) - pad, pts.max(0) + pad


# Scene difficulty: the number of limb-like distractors [low, high) and the probabilities of
# 1, 2 and 3 people per image.
DISTRACTORS = (5, 11)
PEOPLE_PROBS = (0.6, 0.28, 0.12)


def render_scene(rng: np.random.Generator, activity: Activity, ages: Sequence[int],
                 image_size: tuple[int, int] = (160, 120), *, num_distractors=None,
                 occlusion_prob: float = OCCLUSION_PROB) -> tuple[Image.Image,
                                                                  list[RenderedPerson]]:
  """Renders ``len(ages)`` people doing ``activity`` on clutter; -> (RGB image, people)."""
  w, h = image_size
  ss = SUPERSAMPLE
  n = len(ages)
  bodies = [body_for_age(a) for a in ages]
  poses = [activity.sampler(rng) for _ in ages]
  skeletons = [forward_kinematics(b, p) for b, p in zip(bodies, poses)]

  # Placement: the image is cut into n slots side by side; each person fits in theirs.
  slot_w = w / n
  base = h * (uniform(rng, 0.62, 0.9) if n == 1 else uniform(rng, 0.5, 0.78))
  if activity.key == "lying_down":
    base = w * uniform(rng, 0.5, 0.72) / (1.0 if n == 1 else 1.6)  # capped by the slot below
  placed = []
  order = rng.permutation(n)
  for slot, i in enumerate(order):
    k, body = skeletons[i], bodies[i]
    lo, hi = _extent(k, body)
    ext = hi - lo
    s = min(base * body.height * uniform(rng, 0.92, 1.08), 0.97 * slot_w / ext[0],
            0.97 * h / ext[1])
    x_free = slot_w - ext[0] * s
    y_free = h - ext[1] * s
    ox = slot * slot_w + uniform(rng, 0.0, x_free) - lo[0] * s
    oy = y_free * (1.0 - rng.random() ** 2) - lo[1] * s  # rather low in the image
    kpts = np.round(k * s + np.array([ox, oy]), 2)
    placed.append((i, kpts, s))
  placed.sort(key=lambda t: t[0])

  bg = _background(rng, w, h)  # drawn on at ss x the size, then box-filtered back down
  img = Image.fromarray(bg, mode="RGB").resize((w * ss, h * ss), Image.NEAREST)
  draw = ImageDraw.Draw(img)
  mean_px = float(np.mean([s for _, _, s in placed]))
  if num_distractors is None:
    num_distractors = int(rng.integers(*DISTRACTORS))
  _distractors(draw, rng, w, h, mean_px, ss, num_distractors)

  people = []
  for i, kpts, s in placed:
    pose, body = poses[i], bodies[i]
    col = _person_colours(rng)
    p = kpts * ss + 0.5 * (ss - 1)  # pixel-centre coordinates at the supersampled size

    def px(v, s=s):
      return v * s * ss

    if not pose.lying:  # a shadow on the ground
      gy = max(p[R_ANKLE, 1], p[L_ANKLE, 1]) + px(0.02 + pose.ground_gap)
      gx = (p[R_ANKLE, 0] + p[L_ANKLE, 0]) / 2
      gyi = int(np.clip(gy / ss, 0, h - 1))
      gxi = int(np.clip(gx / ss, 0, w - 1))
      shadow = _shade(bg[gyi, gxi], 0.6)
      rx, ry = px(0.16), px(0.025)
      draw.ellipse([gx - rx, gy - ry, gx + rx, gy + ry], fill=shadow)
    if pose.chair:  # seat under the thighs, a back behind the torso, legs to the floor
      f = pose.facing
      chair = _colour(rng, sat=(0.2, 0.6), val=(0.2, 0.6))
      hip = (p[R_HIP] + p[L_HIP]) / 2
      knee = (p[R_KNEE] + p[L_KNEE]) / 2
      seat_y = hip[1] + px(0.06)
      back_x = hip[0] - f * px(0.07)
      front_x = knee[0] - f * px(0.02)
      floor_y = max(p[R_ANKLE, 1], p[L_ANKLE, 1])
      t = px(0.03)
      _capsule(draw, (back_x, seat_y), (front_x, seat_y), t, chair)
      _capsule(draw, (back_x, seat_y), (back_x - f * px(0.03), seat_y - px(0.3)), t, chair)
      _capsule(draw, (back_x, seat_y), (back_x, floor_y), t * 0.8, chair)
      _capsule(draw, (front_x, seat_y), (front_x, floor_y), t * 0.8, chair)

    far = set()
    if pose.view == "profile":  # facing the viewer's right, the left side is farther away
      far = ({L_HIP, L_KNEE, L_ANKLE, L_SHOULDER, L_ELBOW, L_WRIST} if pose.facing > 0 else
             {R_HIP, R_KNEE, R_ANKLE, R_SHOULDER, R_ELBOW, R_WRIST})

    def limb(a, b, thick, colour):
      c = _shade(colour, 0.7) if (a in far or b in far) else colour
      _capsule(draw, p[a], p[b], px(thick), c)

    limbs = [(j, t, col["pants"]) for j, t in _LEGS]
    limbs += [(j, t, col["shirt"] if j[0] in (R_SHOULDER, L_SHOULDER) else col["sleeve"])
              for j, t in _ARMS]
    for (a, b), thick, colour in limbs:  # far side first
      if a in far or b in far:
        limb(a, b, thick, colour)
    torso_poly = [tuple(p[R_SHOULDER]), tuple(p[L_SHOULDER]), tuple(p[L_HIP]),
                  tuple(p[R_HIP])]
    draw.polygon(torso_poly, fill=col["shirt"])
    _capsule(draw, p[PELVIS], p[THORAX], px(0.13 if pose.view == "profile" else 0.1),
             col["shirt"])
    for (a, b), thick, colour in limbs[:4]:
      if not (a in far or b in far):
        limb(a, b, thick, colour)
    _capsule(draw, p[THORAX], p[UPPER_NECK], px(0.05), col["skin"])
    head_c = (p[UPPER_NECK] + p[HEAD_TOP]) / 2
    r = float(np.linalg.norm(p[HEAD_TOP] - p[UPPER_NECK])) / 2
    draw.ellipse([head_c[0] - r, head_c[1] - r, head_c[0] + r, head_c[1] + r], fill=col["skin"])
    hair_dir = (p[HEAD_TOP] - p[UPPER_NECK]) / max(2 * r, 1e-6)
    hc, hr = head_c + hair_dir * r * 0.5, r * 0.55
    draw.ellipse([hc[0] - hr, hc[1] - hr, hc[0] + hr, hc[1] + hr], fill=col["hair"])
    for (a, b), thick, colour in limbs[4:]:  # arms in front of the body
      if not (a in far or b in far):
        limb(a, b, thick, colour)

    vis = np.ones(NUM_JOINTS, np.int32)
    inside = ((kpts[:, 0] >= 0) & (kpts[:, 0] <= w - 1) & (kpts[:, 1] >= 0) &
              (kpts[:, 1] <= h - 1))
    vis[~inside] = 0
    vis[rng.random(NUM_JOINTS) < occlusion_prob] = 0
    lo, hi = _extent(skeletons[i], body)
    o = kpts[PELVIS] - skeletons[i][PELVIS] * s  # the placement offset
    hcu = (kpts[UPPER_NECK] + kpts[HEAD_TOP]) / 2
    hr = float(np.linalg.norm(kpts[HEAD_TOP] - kpts[UPPER_NECK])) / 2 * 1.1
    people.append(RenderedPerson(
        kpts=kpts, vis=vis, height_px=float(s), age=int(ages[i]),
        head_box=(float(hcu[0] - hr), float(hcu[1] - hr), float(hcu[0] + hr), float(hcu[1] + hr)),
        person_box=tuple(float(v) for v in np.concatenate([o + lo * s, o + hi * s])),
        pose=pose))
  img = img.resize((w, h), Image.BOX)
  return img, people


# ---------------------------------------------------------------------------- records
