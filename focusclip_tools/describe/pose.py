"""One person's body frame from MPII keypoints: the geometry the describer reasons with.

``Pose`` turns the visible joints into a torso axis, a body unit (torso length, robust to
foreshortening), a view (front, back, side), the direction the person faces, per-leg angles and
a posture (standing, crouching, sitting, lying, ...). The thresholds below are the describer's
only tuning knobs; image coordinates have x to the right and y *down*, and left/right are the
person's own sides.
"""

from __future__ import annotations

import math
from typing import Any

from focusclip_tools.describe.keypoints import joint_visible
from input_pipeline.mpii_joints import (
    HEAD_TOP, L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, LEGS, NUM_JOINTS, PELVIS,
    R_ANKLE, R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST, THORAX, UPPER_NECK)

# Geometry-describer thresholds. Angles are in degrees; lengths are in "body units", one unit
# being the person's torso length (thorax to pelvis) estimated robustly from every visible
# segment (see _BODY_PROPORTIONS), so the rules do not depend on image resolution or distance.

# Joint (elbow/knee) interior angle: 180 = fully straight.
STRAIGHT_MIN_DEG = 160.0     # >= this: "straight"
BENT_MAX_DEG = 140.0         # < this: "bent" (between the two: "slightly bent")
SHARP_BEND_MAX_DEG = 90.0    # < this: "sharply bent"
# Torso axis (pelvis -> thorax) angle from the image vertical.
TORSO_UPRIGHT_MAX_DEG = 20.0     # below: upright
TORSO_HORIZONTAL_MIN_DEG = 60.0  # from here: horizontal (lying down or bent over)
TORSO_INVERTED_MIN_DEG = 135.0   # from here: upside down
# Head axis (upper neck -> head top) angle from the neck axis (thorax -> upper neck).
HEAD_TILT_MIN_DEG = 20.0      # below: in line with the neck
HEAD_SHARP_TILT_MIN_DEG = 50.0
# Segment direction above the image horizontal (+90 straight up, -90 straight down).
POINTING_DOWN_MAX_DEG = -70.0    # at most this: "pointing (straight) down"
LEVEL_MAX_ABS_DEG = 25.0         # within +-this: "horizontal" / "at shoulder height"
# Arms: the hand (wrist, else elbow) counts as raised when it is this far above the shoulder.
ARM_RAISED_MIN_UNITS = 0.15
# A raised hand with no visible head top is "above the head" when this far above the shoulder.
ARM_ABOVE_HEAD_MIN_UNITS = 0.8
HAND_NEAR_HEAD_MAX_UNITS = 0.35  # wrist to head centre
ACROSS_BODY_MIN_UNITS = 0.1      # hand past the body midline (front/back views)
OUT_TO_SIDE_MIN_UNITS = 0.3      # hand/foot outwards of its shoulder/hip (front/back views)
FORESHORTENED_MAX_UNITS = 0.3    # elbow and wrist this close to the shoulder: points at camera
# Legs.
KNEE_RAISED_MIN_UNITS = 0.1      # knee above the hip by this much
FOOT_LIFTED_MIN_UNITS = 0.3      # ankle above the other ankle by this much
LEGS_SPREAD_MIN_RATIO = 2.0      # ankle distance / hip distance ...
LEGS_SPREAD_MIN_UNITS = 0.8      # ... and in body units, for "spread apart"
# Posture.
CROUCH_MAX_DROP_UNITS = 0.7      # hip-to-ankle height below this and knees bent: crouching
CROUCH_MAX_KNEE_DEG = 110.0
SIT_THIGH_MAX_ABS_DEG = 30.0     # thighs within +-this of horizontal: sitting
KNEEL_SHIN_MAX_ABS_DEG = 30.0    # shin horizontal and thigh pointing down: kneeling
KNEEL_THIGH_MAX_DEG = -50.0
JUMP_FEET_ABOVE_KNEES_UNITS = 0.1  # both ankles above both knees (torso upright): jumping
BENT_OVER_MIN_DROP_UNITS = 0.8   # horizontal torso with legs hanging this far down: bent over
MIN_SEGMENT_UNITS = 0.2          # shorter axes (e.g. a torso seen end-on) give no direction
# View: shoulder (or hip) width across the torso axis over its expected frontal width.
FRONTAL_MIN_WIDTH_FRACTION = 0.5  # at least: front/back view; below: seen from the side
# Several people.
DEPTH_MIN_SCALE_RATIO = 1.5      # largest / smallest person scale for foreground/background
DEPTH_BAND = 1.2                 # within this factor of the largest/smallest
CLOSE_MAX_HEIGHTS = 1.0          # widest centre distance, in mean person heights: close
FAR_MIN_HEIGHTS = 3.0            # ... from here: far apart
IMAGE_SPREAD_MIN_FRACTION = 0.5  # centres spanning this much of the image width: spread across
# Expected segment lengths in torso lengths (thorax to pelvis), frontal view. The body unit is
# the largest length / proportion over visible segments: projection only shortens segments, so
# the maximum is the least foreshortened estimate.
_BODY_PROPORTIONS: tuple[tuple[int, int, float], ...] = (
    (THORAX, PELVIS, 1.0), (R_SHOULDER, R_HIP, 1.0), (L_SHOULDER, L_HIP, 1.0),
    (R_HIP, R_KNEE, 0.85), (L_HIP, L_KNEE, 0.85), (R_KNEE, R_ANKLE, 0.85), (L_KNEE, L_ANKLE, 0.85),
    (R_SHOULDER, R_ELBOW, 0.6), (L_SHOULDER, L_ELBOW, 0.6),
    (R_ELBOW, R_WRIST, 0.55), (L_ELBOW, L_WRIST, 0.55),
    (UPPER_NECK, HEAD_TOP, 0.45), (R_SHOULDER, L_SHOULDER, 0.75), (R_HIP, L_HIP, 0.45),
)
_SHOULDER_WIDTH, _HIP_WIDTH = 0.75, 0.45
PERSON_HEIGHT_UNITS = 3.5  # person height in torso lengths (fallbacks for MPII scale * 200 px)

# ------------------------------------------------------------------------------- geometry

Point = tuple[float, float]


def vec_sub(a: Point, b: Point) -> Point:
  return (a[0] - b[0], a[1] - b[1])


def vec_dot(a: Point, b: Point) -> float:
  return a[0] * b[0] + a[1] * b[1]


def vec_cross(a: Point, b: Point) -> float:
  return a[0] * b[1] - a[1] * b[0]


def vec_length(v: Point) -> float:
  return math.hypot(v[0], v[1])


def distance(a: Point, b: Point) -> float:
  return vec_length(vec_sub(a, b))


def midpoint(a: Point, b: Point) -> Point:
  return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def normalized(v: Point) -> Point | None:
  n = vec_length(v)
  return None if n <= 1e-9 else (v[0] / n, v[1] / n)


def angle_at(a: Point, b: Point, c: Point) -> float | None:
  """Interior angle a-b-c in degrees (180 = straight); None when degenerate."""
  u, w = normalized(vec_sub(a, b)), normalized(vec_sub(c, b))
  if u is None or w is None:
    return None
  return math.degrees(math.acos(max(-1.0, min(1.0, vec_dot(u, w)))))


def elevation(a: Point, b: Point) -> float | None:
  """Direction of a -> b above the image horizontal, degrees (+90 up, -90 down; y is down)."""
  dx, dy = b[0] - a[0], b[1] - a[1]
  if math.hypot(dx, dy) <= 1e-9:
    return None
  return math.degrees(math.atan2(-dy, abs(dx)))


def about_deg(deg: float) -> int:
  """Angles are reported to the nearest 5 degrees (annotation noise is larger than 1)."""
  return int(5 * math.floor(deg / 5 + 0.5))


class Pose:
  """One person's visible joints and the body frame derived from them."""

  def __init__(self, kpts, vis, scale: float | None = None):
    self.pts: list[Point | None] = []
    for j in range(NUM_JOINTS):
      xy, v = kpts[j], vis[j]
      self.pts.append((float(xy[0]), float(xy[1])) if joint_visible(xy, v) else None)
    self.num_visible = sum(p is not None for p in self.pts)
    self.unit = self._unit(scale)
    self.up, self.torso_phi = self._torso_axis()
    self.view, self.lateral = self._view()
    self.forward = self._forward()

  def p(self, j: int) -> Point | None:
    return self.pts[j]

  def has(self, *joints: int) -> bool:
    return all(self.pts[j] is not None for j in joints)

  def _unit(self, scale):
    best = 0.0
    for a, b, ratio in _BODY_PROPORTIONS:
      if self.has(a, b):
        best = max(best, distance(self.pts[a], self.pts[b]) / ratio)
    if best <= 1e-6 and scale and scale > 0:
      best = float(scale) * 200.0 / PERSON_HEIGHT_UNITS
    return best if best > 1e-6 else None

  def _joint_or_midpoint(self, j: int, right: int, left: int) -> Point | None:
    if self.has(j):
      return self.pts[j]
    if self.has(right, left):
      return midpoint(self.pts[right], self.pts[left])
    return None

  def top(self) -> Point | None:
    """The thorax, else the midpoint of the shoulders."""
    return self._joint_or_midpoint(THORAX, R_SHOULDER, L_SHOULDER)

  def bottom(self) -> Point | None:
    """The pelvis, else the midpoint of the hips."""
    return self._joint_or_midpoint(PELVIS, R_HIP, L_HIP)

  def _torso_axis(self):
    top, bottom = self.top(), self.bottom()
    if top is None or bottom is None or self.unit is None:
      return None, None
    axis = vec_sub(top, bottom)
    if vec_length(axis) < MIN_SEGMENT_UNITS * self.unit:
      return None, None
    up = normalized(axis)
    return up, math.degrees(math.acos(max(-1.0, min(1.0, -up[1]))))

  def ref_up(self) -> Point:
    return self.up if self.up is not None else (0.0, -1.0)

  def _view(self):
    """"front" (facing the camera), "back", "side" or None; unit vector to the person's left."""
    if self.unit is None:
      return None, None
    for r, l, expected in ((R_SHOULDER, L_SHOULDER, _SHOULDER_WIDTH), (R_HIP, L_HIP, _HIP_WIDTH)):
      if not self.has(r, l):
        continue
      up = self.ref_up()
      rl = vec_sub(self.pts[l], self.pts[r])
      along = vec_dot(rl, up)
      perp = (rl[0] - along * up[0], rl[1] - along * up[1])
      if vec_length(perp) < FRONTAL_MIN_WIDTH_FRACTION * expected * self.unit:
        return "side", None
      # Facing the camera, the person's left is on the viewer's right: up x (right->left) > 0.
      return ("front" if vec_cross(up, rl) > 0 else "back"), normalized(perp)
    return None, None

  def _forward(self) -> Point | None:
    """Side views: the direction the person faces, from knee flexion or the torso's lean."""
    if self.view != "side" or self.unit is None:
      return None
    up = self.ref_up()
    perp = (-up[1], up[0])
    vote = 0.0
    for hip, knee, ankle in LEGS.values():
      if self.has(hip, knee, ankle):
        angle = angle_at(self.pts[hip], self.pts[knee], self.pts[ankle])
        if angle is not None and angle < STRAIGHT_MIN_DEG:  # knees bend forwards
          offset = vec_sub(self.pts[knee], midpoint(self.pts[hip], self.pts[ankle]))
          vote += vec_dot(offset, perp) / self.unit
    if abs(vote) > 0.05:
      return perp if vote > 0 else (-perp[0], -perp[1])
    if (self.up is not None and TORSO_UPRIGHT_MAX_DEG <= self.torso_phi < 90
        and abs(self.up[0]) > 1e-6):  # people lean forwards far more often than backwards
      return perp if perp[0] * self.up[0] > 0 else (-perp[0], -perp[1])
    return None

  def lean_direction(self) -> str:
    """Which way a leaning torso goes: "forward", "backwards", "to their left"/"right"."""
    if self.up is None:
      return "forward"
    if self.lateral is not None and abs(self.lateral[0]) > 1e-6:
      return "to their left" if self.up[0] * self.lateral[0] > 0 else "to their right"
    if self.forward is not None and abs(self.forward[0]) > 1e-6:
      return "forward" if self.up[0] * self.forward[0] > 0 else "backwards"
    return "forward"

  def outward(self, side: str, base: Point, end: Point) -> float | None:
    """Front/back views: how far ``end`` is out from ``base`` towards the limb's own side."""
    if self.lateral is None:
      return None
    sign = 1.0 if side == "left" else -1.0
    return sign * vec_dot(vec_sub(end, base), self.lateral) / self.unit

  def across_midline(self, side: str, end: Point) -> float | None:
    """Front/back views: how far ``end`` crosses the body midline to the other side."""
    if self.lateral is None:
      return None
    mids = [m for m in (self.top(), self.bottom()) if m is not None]
    if not mids:
      return None
    mid = mids[0]
    sign = 1.0 if side == "left" else -1.0
    return -sign * vec_dot(vec_sub(end, mid), self.lateral) / self.unit

  # ---------------------------------------------------------------------- legs and posture

  def leg(self, side: str) -> dict[str, Any] | None:
    hip, knee, ankle = LEGS[side]
    h, k, a = self.pts[hip], self.pts[knee], self.pts[ankle]
    if h is None or (k is None and a is None) or self.unit is None:
      return None
    info: dict[str, Any] = {"hip": h, "knee": k, "ankle": a, "angle": None, "thigh": None,
                            "shin": None, "whole": None, "drop": None}
    if k is not None and a is not None:
      info["angle"] = angle_at(h, k, a)
      info["shin"] = elevation(k, a)
    if k is not None:
      info["thigh"] = elevation(h, k)
    end = a if a is not None else k
    info["whole"] = elevation(h, end)
    if a is not None:
      info["drop"] = (a[1] - h[1]) / self.unit
    return info

  def posture(self) -> tuple[str, str | None]:
    """(state phrase, group) with group in upright/low/lying/bent/inverted/None."""
    phi = self.torso_phi
    legs = [l for l in (self.leg("left"), self.leg("right")) if l is not None]
    if phi is not None and phi >= TORSO_INVERTED_MIN_DEG:
      return "upside down", "inverted"
    if phi is not None and phi >= TORSO_HORIZONTAL_MIN_DEG:
      hanging = [l for l in legs if l["drop"] is not None and l["whole"] is not None
                 and l["drop"] >= BENT_OVER_MIN_DROP_UNITS and l["whole"] <= -50]
      if hanging:
        return "bending forward at the waist", "bent"
      return "lying down", "lying"
    leaning = phi is not None and phi >= TORSO_UPRIGHT_MAX_DEG
    lean = f" and leaning {self.lean_direction()}" if leaning else ""
    full = [l for l in legs if l["angle"] is not None]
    thighs = [l for l in legs if l["thigh"] is not None]
    if full:
      drop = sum(l["drop"] for l in full) / len(full)
      knee = min(l["angle"] for l in full)
      if drop < CROUCH_MAX_DROP_UNITS and knee < CROUCH_MAX_KNEE_DEG:
        return "crouching" + lean, "low"
      if any(abs(l["shin"]) <= KNEEL_SHIN_MAX_ABS_DEG and l["thigh"] <= KNEEL_THIGH_MAX_DEG
             and l["angle"] < BENT_MAX_DEG for l in full):
        return "kneeling" + lean, "low"
    if thighs:
      level = [abs(l["thigh"]) <= SIT_THIGH_MAX_ABS_DEG for l in thighs]
      if all(level):
        return "sitting" + lean, "low"
      if any(level):
        support = [l for l in full if l["thigh"] is not None
                   and abs(l["thigh"]) > SIT_THIGH_MAX_ABS_DEG]
        if support and all(l["angle"] >= BENT_MAX_DEG for l in support):
          return "standing on one leg" + lean, "upright"
        return "sitting" + lean, "low"
    if len(full) == 2 and not leaning:
      top_knee = min(l["knee"][1] for l in full)
      if all(l["ankle"][1] < top_knee - JUMP_FEET_ABOVE_KNEES_UNITS * self.unit for l in full):
        return "jumping with both feet off the ground", "upright"
    if full:
      knee = min(l["angle"] for l in full)
      if knee >= STRAIGHT_MIN_DEG:
        return ("standing" + lean) if leaning else "standing upright", "upright"
      return "standing with bent knees" + lean, "upright"
    if phi is None:
      return "only partly visible", None
    if leaning:
      return f"leaning {self.lean_direction()}", "upright"
    return "upright", "upright"
