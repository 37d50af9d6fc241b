r"""An offline demo dataset: stick-figure people doing ten activities, in the real layouts.

  python -m input_pipeline.demo_data --out=/tmp/focusclip_demo [--num_train=4000] [--seed=0]

writes, deterministically from the seed and with no download, everything a new user needs to
watch FocusCLIP train and evaluate zero-shot on a small CPU:

* ``<out>/mpii/``: the MPII Pose Descriptions manual directory exactly as the real TFDS builder
  reads it (``images/000000001.jpg ...``, ``descriptions/gpt-4-0613/train.json``,
  ``descriptions/gpt-3.5-turbo-0613/val.json``; records {image, video_id, video_frame,
  activity "<category>, <name>", activity_id, count, people [{id, center, scale, kpts 16 x
  [x, y], kpts_vis 16}], istrain, description}), so
  ``python -m input_pipeline.prepare --manual_dir=<out>/mpii --config=gpt-4-224px`` builds it;
* ``<out>/zeroshot/stanford40/``: held-out renders of the same activities in the Stanford 40
  Actions layout (``JPEGImages/<action>_<NNN>.jpg``, ``ImageSplits/{actions,test}.txt``), one
  class per activity, read by ``input_pipeline.eval_datasets.load('stanford40', <out>/zeroshot)``
  with prompts such as "a photo of a person raising both arms";
* ``<out>/zeroshot/lagenda/``: held-out single-person renders of children (5-11 years) and
  adults (25-60) in the LAGENDA CSV layout (``lagenda_annotation.csv`` + ``images/``), read by
  ``load('lagenda_body' | 'lagenda_face', <out>/zeroshot)`` (classes kid / teenager / adult; no
  teenagers are rendered).

Design
------
*People.* A person is MPII's 16-joint skeleton (``heatmaps.MPII_JOINTS``; x right, y down, the
person's right/left) built by forward kinematics from the pelvis: torso, neck and head, then
upper/lower arms from the shoulders and upper/lower legs from the hips, each segment given by an
angle. Segment lengths come from ``body_for_age``: children have a larger head, shorter legs
and are shorter overall than adults. A ``Pose`` is either seen from the front (the person faces
the camera, so their left side is at the viewer's right; limb angles are measured outward) or
in profile (facing left or right; limb angles are measured forward). A global in-plane rotation,
scale and position place it in the image.

*Activities.* ``ACTIVITIES`` are ten pose families, each with an MPII-like activity string
("<category>, <name>", what the training records hold) and a short zero-shot action name
(the Stanford-40-style class, e.g. ``raising_both_arms`` -> "a photo of a person raising both
arms"). Every family samples its joint angles from ranges chosen so that the families stay
distinguishable from the skeleton alone (tests/test_demo_data.py checks the defining geometry:
wrists above the head for "raising both arms", a horizontal torso for "lying down", hips at
knee height for "squatting", ...). Like MPII, the activity belongs to the image: all its 1-3
people do it.

*Rendering* (PIL, 2x supersampled, then box-filtered down). Limbs are thick round-capped
segments (thickness proportional to the person's height), the torso a polygon plus a thick
spine, the head a filled circle; colours are random per person (clothes, skin tone), far-side
limbs in profile are darker. Standing people cast a small shadow (for "jumping" it sits below
the feet, a feet-off-the-ground cue); "sitting" people sit on a drawn chair. The background is a
random colour gradient with low- and high-frequency noise, a few large soft shapes and several
*limb-like distractors*: thick segments, bent two-segment "limbs" and skin-coloured blobs in the
same palettes as the people. The subject is therefore not the only limb-like thing in the
picture: telling person from clutter needs the body's structure, which is what FocusCLIP's
heatmap-highlighted branch teaches the image encoder to attend to.

*Keypoints* are recorded exactly as drawn (float pixels rounded to 0.01; pixel centres at
integer coordinates, 0-based). A joint is visible (``kpts_vis`` 1) unless it falls outside the
image or is randomly marked occluded (probability ``OCCLUSION_PROB``); coordinates are kept for
invisible joints. ``center`` is the centre of the person's box and ``scale`` = standing height
/ 200 (MPII: the person's height is about scale * 200 px).

*Descriptions* come from ``input_pipeline.descriptions.describe_record`` (the keypoint-geometry
describer that writes the paper's description structure), imported lazily; when that module
is unavailable a minimal ``_fallback_description`` is used and ``write_demo`` reports it.

*Determinism.* Every image is rendered from its own generator,
``numpy.random.default_rng([seed, split code, index])``, and JPEGs are written with fixed
settings (quality 90), so the same seed gives byte-identical files; the zero-shot sets use other
split codes, i.e. renders never seen in training.
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

NUM_JOINTS = 16
(R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, PELVIS, THORAX, NECK, HEAD_TOP, R_WRIST,
 R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST) = range(NUM_JOINTS)

TRAIN_FOLDER = "gpt-4-0613"  # the builder's gpt-4 config: train from here ...
VAL_FOLDER = "gpt-3.5-turbo-0613"  # ... and validation from here (docs/method.md §4.3)
JPEG_QUALITY = 90
SUPERSAMPLE = 2
OCCLUSION_PROB = 0.02  # per joint: marked invisible although drawn
KID_AGES = (5, 11)
ADULT_AGES = (25, 60)
NUM_TRAIN = 4000  # default training images (what `make demo` trains on)
TRAIN_KID_FRACTION = 0.3  # share of children among the people of the training images

# Generator streams: rng = default_rng([seed, code, index]).
_SPLIT_CODES = {"train": 0, "validation": 1, "stanford40": 2, "lagenda": 3}


# ------------------------------------------------------------------------------ the body


@dataclasses.dataclass(frozen=True)
class Body:
  """Segment lengths in units of the standing height (ankle to head top = 1)."""

  torso: float  # pelvis -> thorax
  neck: float  # thorax -> upper neck
  head: float  # upper neck -> head top (the head circle's diameter)
  shoulder: float  # thorax -> each shoulder
  hip: float  # pelvis -> each hip
  upper_arm: float
  lower_arm: float
  upper_leg: float
  lower_leg: float
  height: float  # standing height relative to an average adult


def body_for_age(age: float) -> Body:
  """Proportions of a person of ``age``: the younger, the larger the head and shorter the legs."""
  c = float(np.clip((18.0 - age) / 13.0, 0.0, 1.0))  # 1 at age 5, 0 from 18 on
  raw = dict(torso=0.30 - 0.01 * c, neck=0.05 - 0.012 * c, head=0.125 + 0.065 * c,
             shoulder=0.105 - 0.012 * c, hip=0.065 - 0.005 * c, upper_arm=0.17 - 0.02 * c,
             lower_arm=0.16 - 0.02 * c, upper_leg=0.245 - 0.04 * c, lower_leg=0.245 - 0.04 * c)
  standing = raw["upper_leg"] + raw["lower_leg"] + raw["torso"] + raw["neck"] + raw["head"]
  raw = {k: v / standing for k, v in raw.items()}
  height = 1.0 if age >= 18 else 0.6 + 0.04 * (max(age, 5.0) - 5.0)
  return Body(height=height, **raw)


@dataclasses.dataclass
class Pose:
  """Joint angles of one person, in degrees.

  Limb angles are absolute (not relative to the torso), measured from straight down: 0 points
  down, 90 horizontal, 180 straight up. In the 'front' view positive angles point outward (away
  from the body's midline: the person's right limbs to the viewer's left); in 'profile' they
  point forward (the way the person faces, ``facing`` = +1 for the viewer's right, -1 for left).
  ``torso`` is the spine's angle from vertical-up (+ = forward in profile, toward the viewer's
  right in front view), ``head`` the head's extra tilt. ``rotation`` turns the whole skeleton
  about the pelvis (degrees, clockwise on screen); ``ground_gap`` lifts the feet off the
  ground (in standing heights; only the shadow shows it).
  """

  view: str = "front"
  facing: int = 1
  torso: float = 0.0
  head: float = 0.0
  arms: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
  legs: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
  rotation: float = 0.0
  ground_gap: float = 0.0
  lying: bool = False
  chair: bool = False


def _dir(theta_deg: float) -> np.ndarray:
  t = math.radians(theta_deg)
  return np.array([math.sin(t), math.cos(t)])


def forward_kinematics(body: Body, pose: Pose) -> np.ndarray:
  """-> [16, 2] joints (MPII order), pelvis at the origin, y down, in standing heights."""
  k = np.zeros((NUM_JOINTS, 2))
  profile = pose.view == "profile"
  sgn = pose.facing if profile else 1
  side_sign = ({"right": pose.facing, "left": pose.facing} if profile else
               {"right": -1, "left": 1})
  width = 0.2 if profile else 1.0  # shoulders/hips nearly coincide in profile
  t = _dir(180.0 - sgn * pose.torso)  # pelvis -> thorax
  left = np.array([-t[1], t[0]])  # the person's left, perpendicular to the spine
  k[PELVIS] = 0.0
  k[R_HIP], k[L_HIP] = -left * body.hip * width, left * body.hip * width
  k[THORAX] = body.torso * t
  k[R_SHOULDER] = k[THORAX] - left * body.shoulder * width
  k[L_SHOULDER] = k[THORAX] + left * body.shoulder * width
  h = _dir(180.0 - sgn * (pose.torso + pose.head))
  k[NECK] = k[THORAX] + body.neck * h
  k[HEAD_TOP] = k[NECK] + body.head * h
  for side, (sh, el, wr) in (("right", (R_SHOULDER, R_ELBOW, R_WRIST)),
                             ("left", (L_SHOULDER, L_ELBOW, L_WRIST))):
    upper, lower = pose.arms[side]
    k[el] = k[sh] + body.upper_arm * _dir(side_sign[side] * upper)
    k[wr] = k[el] + body.lower_arm * _dir(side_sign[side] * lower)
  for side, (hp, kn, an) in (("right", (R_HIP, R_KNEE, R_ANKLE)),
                             ("left", (L_HIP, L_KNEE, L_ANKLE))):
    upper, lower = pose.legs[side]
    k[kn] = k[hp] + body.upper_leg * _dir(side_sign[side] * upper)
    k[an] = k[kn] + body.lower_leg * _dir(side_sign[side] * lower)
  if pose.rotation:
    c, s = math.cos(math.radians(pose.rotation)), math.sin(math.radians(pose.rotation))
    k = k @ np.array([[c, s], [-s, c]])  # (x, y) -> (c x - s y, s x + c y)
  return k


# ------------------------------------------------------------------------- the activities


def _u(rng, lo, hi):
  return float(rng.uniform(lo, hi))


def _sides(rng):
  return ("right", "left") if rng.random() < 0.5 else ("left", "right")


def _standing_legs(rng, spread=(2.0, 8.0)):
  out = {}
  for side in ("right", "left"):
    a = _u(rng, *spread)
    out[side] = (a, a + _u(rng, -3, 3))
  return out


def _arms_down(rng):
  out = {}
  for side in ("right", "left"):
    a = _u(rng, 6, 22)
    out[side] = (a, a + _u(rng, -4, 12))
  return out


def _pose_standing(rng) -> Pose:
  return Pose(view="front", torso=_u(rng, -4, 4), head=_u(rng, -6, 6), arms=_arms_down(rng),
              legs=_standing_legs(rng), rotation=_u(rng, -5, 5))


def _pose_raising_both_arms(rng) -> Pose:
  arms = {}
  for side in ("right", "left"):
    a = _u(rng, 160, 178)
    arms[side] = (a, a + _u(rng, -5, 8))
  return Pose(view="front", torso=_u(rng, -4, 4), head=_u(rng, -5, 5), arms=arms,
              legs=_standing_legs(rng), rotation=_u(rng, -5, 5))


def _pose_waving(rng) -> Pose:
  arms = _arms_down(rng)
  wave, _ = _sides(rng)
  arms[wave] = (_u(rng, 75, 110), _u(rng, 150, 190))  # upper arm out, forearm up
  return Pose(view="front", torso=_u(rng, -4, 4), head=_u(rng, -8, 8), arms=arms,
              legs=_standing_legs(rng), rotation=_u(rng, -5, 5))


def _pose_squatting(rng) -> Pose:
  legs, arms = {}, {}
  for side in ("right", "left"):
    a = _u(rng, 68, 86)  # thighs nearly horizontal, knees out
    legs[side] = (a, _u(rng, -12, 8))  # shins down
    b = _u(rng, 8, 30)
    arms[side] = (b, _u(rng, -45, -10))  # forearms inward, hands between the knees
  return Pose(view="front", torso=_u(rng, -5, 5), head=_u(rng, -6, 6), arms=arms, legs=legs,
              rotation=_u(rng, -4, 4))


def _pose_sitting(rng) -> Pose:
  legs, arms = {}, {}
  for side in ("right", "left"):
    legs[side] = (_u(rng, 82, 98), _u(rng, -6, 10))  # thighs horizontal forward, shins down
    a = _u(rng, 5, 30)
    arms[side] = (a, _u(rng, 60, 95))  # forearms forward onto the lap
  return Pose(view="profile", facing=int(rng.choice([-1, 1])), torso=_u(rng, -10, 4),
              head=_u(rng, -5, 10), arms=arms, legs=legs, rotation=_u(rng, -3, 3), chair=True)


def _pose_running(rng) -> Pose:
  front, back = _sides(rng)
  legs = {front: (_u(rng, 35, 60), _u(rng, -12, 8)),
          back: (_u(rng, -38, -15), _u(rng, -105, -60))}  # back shin kicked up behind
  up = _u(rng, -50, -25)
  fa = _u(rng, 20, 45)
  arms = {front: (up, up + _u(rng, 75, 100)),  # opposite arm swings back, elbow bent
          back: (fa, fa + _u(rng, 70, 100))}  # this arm swings forward, forearm up
  return Pose(view="profile", facing=int(rng.choice([-1, 1])), torso=_u(rng, 10, 25),
              head=_u(rng, -10, 0), arms=arms, legs=legs, rotation=_u(rng, -3, 3))


def _pose_lying_down(rng) -> Pose:
  legs = _standing_legs(rng, (1.0, 6.0))
  if rng.random() < 0.35:  # one knee drawn up
    side = _sides(rng)[0]
    legs[side] = (_u(rng, 25, 45), _u(rng, -25, -5))
  arms = _arms_down(rng)
  if rng.random() < 0.3:  # a hand behind the head
    side = _sides(rng)[0]
    arms[side] = (_u(rng, 130, 160), _u(rng, 200, 240))
  rotation = float(rng.choice([-90.0, 90.0])) + _u(rng, -7, 7)
  return Pose(view="front", torso=_u(rng, -3, 3), head=_u(rng, -10, 10), arms=arms, legs=legs,
              rotation=rotation, lying=True)


def _pose_jumping(rng) -> Pose:
  arms, legs = {}, {}
  for side in ("right", "left"):
    a = _u(rng, 115, 145)  # star jump: arms diagonal up ...
    arms[side] = (a, a + _u(rng, -10, 10))
    b = _u(rng, 18, 30)  # ... legs spread
    legs[side] = (b, b + _u(rng, -6, 4))
  return Pose(view="front", torso=_u(rng, -3, 3), head=_u(rng, -5, 5), arms=arms, legs=legs,
              rotation=_u(rng, -4, 4), ground_gap=_u(rng, 0.08, 0.16))


def _pose_kicking(rng) -> Pose:
  kick, stand = _sides(rng)
  k = _u(rng, 62, 95)
  legs = {kick: (k, k + _u(rng, -8, 18)), stand: (_u(rng, -6, 3), _u(rng, -4, 4))}
  arms = {}
  for side in ("right", "left"):
    a = _u(rng, 45, 90) * (1 if rng.random() < 0.5 else -1)  # arms out for balance
    arms[side] = (a, a + _u(rng, -15, 15))
  return Pose(view="profile", facing=int(rng.choice([-1, 1])), torso=_u(rng, -15, 0),
              head=_u(rng, 0, 10), arms=arms, legs=legs, rotation=_u(rng, -3, 3))


def _pose_touching_toes(rng) -> Pose:
  legs = {s: (_u(rng, -5, 4), _u(rng, -4, 4)) for s in ("right", "left")}
  arms = {}
  for side in ("right", "left"):
    a = _u(rng, -8, 12)  # hanging down to the feet
    arms[side] = (a, a + _u(rng, -6, 8))
  return Pose(view="profile", facing=int(rng.choice([-1, 1])), torso=_u(rng, 100, 122),
              head=_u(rng, 0, 20), arms=arms, legs=legs, rotation=_u(rng, -3, 3))


@dataclasses.dataclass(frozen=True)
class Activity:
  """A pose family.

  key: the zero-shot class name (Stanford 40 style, '_' for spaces).
  activity: the MPII-like "<category>, <name>" string of the training records.
  activity_id: the records' activity_id.
  max_people: most people per image.
  """

  key: str
  activity: str
  activity_id: int
  sampler: Callable[[np.random.Generator], Pose]
  max_people: int = 3

  @property
  def action(self) -> str:
    """The zero-shot action name, e.g. 'raising both arms'."""
    return self.key.replace("_", " ")

  @property
  def prompt(self) -> str:
    return f"a photo of a person {self.action}"


ACTIVITIES: tuple[Activity, ...] = (
    Activity("standing", "inactivity quiet/light, standing quietly", 1, _pose_standing),
    Activity("raising_both_arms", "conditioning exercise, stretching with both arms raised",
             2, _pose_raising_both_arms),
    Activity("waving", "miscellaneous, waving hello", 3, _pose_waving),
    Activity("squatting", "conditioning exercise, squatting", 4, _pose_squatting),
    Activity("sitting", "inactivity quiet/light, sitting on a chair", 5, _pose_sitting),
    Activity("running", "running, running outdoors", 6, _pose_running),
    Activity("lying_down", "inactivity quiet/light, lying down resting", 7, _pose_lying_down,
             max_people=2),
    Activity("jumping", "conditioning exercise, doing jumping jacks", 8, _pose_jumping),
    Activity("kicking", "sports, kicking a ball", 9, _pose_kicking),
    Activity("touching_toes", "conditioning exercise, bending over touching toes", 10,
             _pose_touching_toes),
)
ACTIVITY_BY_KEY = {a.key: a for a in ACTIVITIES}
_ACTION_BY_ACTIVITY = {a.activity: a.action for a in ACTIVITIES}


def activity_list() -> list[dict[str, Any]]:
  return [{"key": a.key, "activity": a.activity, "activity_id": a.activity_id,
           "action": a.action, "prompt": a.prompt} for a in ACTIVITIES]


# ---------------------------------------------------------------------------- rendering

_SKIN = ((255, 224, 189), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36),
         (92, 51, 23))
# (joints, thickness in standing heights) per limb, drawn in this order after the torso.
_LEGS = (((R_HIP, R_KNEE), 0.075), ((R_KNEE, R_ANKLE), 0.065), ((L_HIP, L_KNEE), 0.075),
         ((L_KNEE, L_ANKLE), 0.065))
_ARMS = (((R_SHOULDER, R_ELBOW), 0.055), ((R_ELBOW, R_WRIST), 0.048),
         ((L_SHOULDER, L_ELBOW), 0.055), ((L_ELBOW, L_WRIST), 0.048))


def _colour(rng, sat=(0.35, 0.9), val=(0.3, 0.95)) -> tuple[int, int, int]:
  r, g, b = colorsys.hsv_to_rgb(rng.random(), _u(rng, *sat), _u(rng, *val))
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
    x0, y0 = _u(rng, -0.2, 0.9) * w, _u(rng, -0.2, 0.9) * h
    x1, y1 = x0 + _u(rng, 0.15, 0.5) * w, y0 + _u(rng, 0.15, 0.5) * h
    fill = _colour(rng, sat=(0.05, 0.5), val=(0.3, 0.9))
    (draw.rectangle if rng.random() < 0.6 else draw.ellipse)(
        [x0 * ss, y0 * ss, x1 * ss, y1 * ss], fill=fill)
  for _ in range(count):
    kind = rng.random()
    if rng.random() < 0.35:
      fill = _SKIN[int(rng.integers(len(_SKIN)))]
    else:
      fill = _colour(rng)
    p0 = np.array([_u(rng, 0, w), _u(rng, 0, h)])
    length = _u(rng, 0.12, 0.3) * person_px
    width = _u(rng, 0.045, 0.08) * person_px * ss
    a = _u(rng, 0, 360)
    if kind < 0.45:  # a single thick segment
      p1 = p0 + length * _dir(a)
      _capsule(draw, p0 * ss, p1 * ss, width, fill)
    elif kind < 0.8:  # a bent two-segment limb
      p1 = p0 + length * _dir(a)
      p2 = p1 + _u(rng, 0.8, 1.0) * length * _dir(a + _u(rng, -120, 120))
      _capsule(draw, p0 * ss, p1 * ss, width, fill)
      _capsule(draw, p1 * ss, p2 * ss, width * 0.9, fill)
    else:  # a blob (head-sized or a bit larger)
      r = _u(rng, 0.05, 0.1) * person_px * ss
      rx, ry = r * _u(rng, 0.8, 1.6), r
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
  head_c = (k[NECK] + k[HEAD_TOP]) / 2
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
  base = h * (_u(rng, 0.62, 0.9) if n == 1 else _u(rng, 0.5, 0.78))
  if activity.key == "lying_down":
    base = w * _u(rng, 0.5, 0.72) / (1.0 if n == 1 else 1.6)  # capped by the slot below
  placed = []
  order = rng.permutation(n)
  for slot, i in enumerate(order):
    k, body = skeletons[i], bodies[i]
    lo, hi = _extent(k, body)
    ext = hi - lo
    s = min(base * body.height * _u(rng, 0.92, 1.08), 0.97 * slot_w / ext[0],
            0.97 * h / ext[1])
    x_free = slot_w - ext[0] * s
    y_free = h - ext[1] * s
    ox = slot * slot_w + _u(rng, 0.0, x_free) - lo[0] * s
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
    _capsule(draw, p[THORAX], p[NECK], px(0.05), col["skin"])
    head_c = (p[NECK] + p[HEAD_TOP]) / 2
    r = float(np.linalg.norm(p[HEAD_TOP] - p[NECK])) / 2
    draw.ellipse([head_c[0] - r, head_c[1] - r, head_c[0] + r, head_c[1] + r], fill=col["skin"])
    hair_dir = (p[HEAD_TOP] - p[NECK]) / max(2 * r, 1e-6)
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
    hcu = (kpts[NECK] + kpts[HEAD_TOP]) / 2
    hr = float(np.linalg.norm(kpts[HEAD_TOP] - kpts[NECK])) / 2 * 1.1
    people.append(RenderedPerson(
        kpts=kpts, vis=vis, height_px=float(s), age=int(ages[i]),
        head_box=(float(hcu[0] - hr), float(hcu[1] - hr), float(hcu[0] + hr), float(hcu[1] + hr)),
        person_box=tuple(float(v) for v in np.concatenate([o + lo * s, o + hi * s])),
        pose=pose))
  img = img.resize((w, h), Image.BOX)
  return img, people


# ---------------------------------------------------------------------------- records


def _fallback_description(record: dict[str, Any]) -> str:
  """Minimal description, used only when input_pipeline.descriptions is unavailable."""
  n = int(record.get("count", len(record.get("people", []))))
  words = {1: "one", 2: "two", 3: "three"}.get(n, str(n))
  key = record.get("activity", "").split(", ", 1)[-1]
  action = _ACTION_BY_ACTIVITY.get(record.get("activity", ""), key)
  if n == 1:
    return f"There is one person in the image who is {action}."
  return f"There are {words} people in the image who are {action}."


def _describer() -> tuple[Callable[..., str], str]:
  """(describe(record, (width, height)) -> str, source name); the fallback if unavailable."""
  try:
    from input_pipeline import descriptions  # pylint: disable=g-import-not-at-top
    describe_record = descriptions.describe_record
  except (ImportError, AttributeError):
    return (lambda record, image_size: _fallback_description(record)), "fallback"

  def describe(record, image_size):
    w, h = image_size
    return describe_record(record, image_size=(h, w))  # it takes (height, width)

  return describe, "input_pipeline.descriptions.describe_record"


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


def _write_mpii(root, split, num, start, image_size, seed, describe) -> list[dict[str, Any]]:
  code = _SPLIT_CODES[split]
  labels = _balanced_labels(num, seed, code)
  records = []
  for i in range(num):
    rng, activity, img, people = _render_example(seed, code, i, int(labels[i]), image_size)
    name = f"{start + i:09d}.jpg"
    _save_jpeg(img, os.path.join(root, "images", name))
    record = make_record(name, activity, people, rng, istrain=split == "train")
    record["description"] = describe(record, image_size)
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
  describe, source = _describer()
  train = _write_mpii(mpii, "train", num_train, 1, image_size, seed, describe)
  val = _write_mpii(mpii, "validation", num_val, num_train + 1, image_size, seed, describe)
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
      "description_source": source,
  }
  with open(os.path.join(root, "demo_info.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  summary["seconds"] = round(time.perf_counter() - t0, 2)
  return summary


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(
      prog="python -m input_pipeline.demo_data",
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
