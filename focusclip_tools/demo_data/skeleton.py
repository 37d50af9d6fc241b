"""Demo people: MPII's 16-joint skeleton built by forward kinematics from joint angles.

A ``Body`` holds segment lengths by age (children: larger head, shorter legs, shorter overall);
a ``Pose`` holds joint angles in a front or profile view; ``forward_kinematics`` turns both into
the 16 MPII joints (``input_pipeline.mpii_joints`` order; x right, y down, the person's own
right/left), so the keypoints are exactly what the renderer draws.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from input_pipeline.mpii_joints import (
    HEAD_TOP, L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NUM_JOINTS, PELVIS, R_ANKLE,
    R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST, THORAX, UPPER_NECK)

KID_AGES = (5, 11)
ADULT_AGES = (25, 60)


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
  return float(rng.uniform(lo, hi))


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


def direction(theta_deg: float) -> np.ndarray:
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
  t = direction(180.0 - sgn * pose.torso)  # pelvis -> thorax
  left = np.array([-t[1], t[0]])  # the person's left, perpendicular to the spine
  k[PELVIS] = 0.0
  k[R_HIP], k[L_HIP] = -left * body.hip * width, left * body.hip * width
  k[THORAX] = body.torso * t
  k[R_SHOULDER] = k[THORAX] - left * body.shoulder * width
  k[L_SHOULDER] = k[THORAX] + left * body.shoulder * width
  h = direction(180.0 - sgn * (pose.torso + pose.head))
  k[UPPER_NECK] = k[THORAX] + body.neck * h
  k[HEAD_TOP] = k[UPPER_NECK] + body.head * h
  for side, (sh, el, wr) in (("right", (R_SHOULDER, R_ELBOW, R_WRIST)),
                             ("left", (L_SHOULDER, L_ELBOW, L_WRIST))):
    upper, lower = pose.arms[side]
    k[el] = k[sh] + body.upper_arm * direction(side_sign[side] * upper)
    k[wr] = k[el] + body.lower_arm * direction(side_sign[side] * lower)
  for side, (hp, kn, an) in (("right", (R_HIP, R_KNEE, R_ANKLE)),
                             ("left", (L_HIP, L_KNEE, L_ANKLE))):
    upper, lower = pose.legs[side]
    k[kn] = k[hp] + body.upper_leg * direction(side_sign[side] * upper)
    k[an] = k[kn] + body.lower_leg * direction(side_sign[side] * lower)
  if pose.rotation:
    c, s = math.cos(math.radians(pose.rotation)), math.sin(math.radians(pose.rotation))
    k = k @ np.array([[c, s], [-s, c]])  # (x, y) -> (c x - s y, s x + c y)
  return k
