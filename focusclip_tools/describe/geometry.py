"""The keypoint-geometry describer: the paper's paragraph structure without an LLM.

``describe`` / ``describe_record`` write the template of docs/method.md §4.2 (opening sentence,
general attributes, then per person legs, arms, torso and head) from deterministic rules on
joint angles and relative positions (``pose.Pose``). It is not the paper's data (real training
uses the released GPT-4 descriptions); it exists for offline runs, the demo, smoke tests,
images without LLM descriptions and as a transparent baseline. Left/right are always the
person's own sides (for someone facing the camera, their left arm is on the viewer's right).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from focusclip_tools.describe.keypoints import person_arrays
from focusclip_tools.describe.pose import (
    ACROSS_BODY_MIN_UNITS, ARM_ABOVE_HEAD_MIN_UNITS, ARM_RAISED_MIN_UNITS, BENT_MAX_DEG,
    FOOT_LIFTED_MIN_UNITS, FORESHORTENED_MAX_UNITS, HAND_NEAR_HEAD_MAX_UNITS,
    HEAD_SHARP_TILT_MIN_DEG, HEAD_TILT_MIN_DEG, KNEE_RAISED_MIN_UNITS, LEGS_SPREAD_MIN_RATIO,
    LEGS_SPREAD_MIN_UNITS, LEVEL_MAX_ABS_DEG, OUT_TO_SIDE_MIN_UNITS, PERSON_HEIGHT_UNITS,
    POINTING_DOWN_MAX_DEG, Point, Pose, SHARP_BEND_MAX_DEG, STRAIGHT_MIN_DEG,
    TORSO_HORIZONTAL_MIN_DEG, TORSO_INVERTED_MIN_DEG, TORSO_UPRIGHT_MAX_DEG, about_deg,
    angle_at, distance, elevation, midpoint, normalized, vec_cross, vec_dot, vec_length,
    vec_sub)
from focusclip_tools.describe.scene import general_sentence
from focusclip_tools.describe.scene import locations
from focusclip_tools.describe.words import age_noun
from focusclip_tools.describe.words import count_words
from focusclip_tools.describe.words import join_words
from focusclip_tools.describe.words import opening_sentence
from input_pipeline.mpii_joints import (
    ARMS, HEAD_TOP, L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, LEGS, NUM_JOINTS,
    R_ANKLE, R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST, THORAX, UPPER_NECK, joint_name)

_OTHER = {"left": "right", "right": "left"}


def _bend_phrase(angle: float | None, joint: str) -> str | None:
  if angle is None:
    return None
  if angle >= STRAIGHT_MIN_DEG:
    return "straight"
  if angle >= BENT_MAX_DEG:
    return f"slightly bent at the {joint}"
  if angle >= SHARP_BEND_MAX_DEG:
    return f"bent at the {joint} (about {about_deg(angle)} degrees)"
  return f"sharply bent at the {joint} (about {about_deg(angle)} degrees)"


def _direction_phrase(elev: float | None) -> str | None:
  if elev is None:
    return None
  if elev <= POINTING_DOWN_MAX_DEG:
    return "pointing down"
  if elev < -LEVEL_MAX_ABS_DEG:
    return "angled downwards"
  if elev <= LEVEL_MAX_ABS_DEG:
    return "roughly horizontal"
  return "raised upwards"


def _sentence(subject: str, main: Sequence[str], with_: Sequence[str] = ()) -> str | None:
  main = [m for m in main if m]
  with_ = [w for w in with_ if w]
  if not main and not with_:
    return None
  text = f"{subject} is {join_words(main)}" if main else f"{subject} is visible"
  if with_:
    text += ", with " + join_words(with_)
  return text + "."


def _leg_sentence(pose: Pose, side: str, spread: bool) -> tuple[str | None, str | None]:
  """(sentence, "bent"/"straight"/None) for the person's ``side`` leg."""
  info = pose.leg(side)
  if info is None:
    return None, None
  upright = pose.torso_phi is None or pose.torso_phi < TORSO_HORIZONTAL_MIN_DEG
  main: list[str] = []
  with_: list[str] = []
  angle = info["angle"]
  bend = _bend_phrase(angle, "knee")
  main.append(bend)
  if angle is not None and angle < BENT_MAX_DEG:
    thigh = _direction_phrase(info["thigh"])
    shin = _direction_phrase(info["shin"])
    if thigh:
      with_.append(f"the thigh {thigh}")
    if shin:
      with_.append(f"the lower leg {shin}")
  else:
    direction = _direction_phrase(info["whole"])
    end = info["ankle"] or info["knee"]
    out = pose.outward(side, info["hip"], end)
    if direction == "angled downwards" and out is not None and out > OUT_TO_SIDE_MIN_UNITS:
      direction = "angled down and out to the side"
    main.append(direction)
  if upright and info["knee"] is not None:
    if info["knee"][1] < info["hip"][1] - KNEE_RAISED_MIN_UNITS * pose.unit:
      with_.append("the knee raised above hip level")
  other = pose.p(LEGS[_OTHER[side]][2])
  if upright and info["ankle"] is not None and other is not None:
    if other[1] - info["ankle"][1] > FOOT_LIFTED_MIN_UNITS * pose.unit:
      with_.append(f"the foot lifted higher than the {_OTHER[side]} foot")
  if spread:
    main.append(f"set wide apart from the {_OTHER[side]} leg")
  kind = None if angle is None else ("bent" if angle < BENT_MAX_DEG else "straight")
  return _sentence(f"Their {side} leg", main, with_), kind


def _legs_spread(pose: Pose) -> bool:
  if not pose.has(L_ANKLE, R_ANKLE, L_HIP, R_HIP) or pose.unit is None:
    return False
  feet = distance(pose.p(L_ANKLE), pose.p(R_ANKLE))
  hips = distance(pose.p(L_HIP), pose.p(R_HIP))
  return feet > LEGS_SPREAD_MIN_UNITS * pose.unit and feet > LEGS_SPREAD_MIN_RATIO * hips


def _arm_sentence(pose: Pose, side: str) -> tuple[str | None, str | None]:
  """(sentence, "raised"/"level"/"lowered"/None) for the person's ``side`` arm."""
  shoulder, elbow, wrist = ARMS[side]
  s, e, w = pose.p(shoulder), pose.p(elbow), pose.p(wrist)
  if s is None or (e is None and w is None) or pose.unit is None:
    return None, None
  u = pose.unit
  end = w if w is not None else e
  main: list[str] = []
  with_: list[str] = []
  kind = None
  rise = (s[1] - end[1]) / u
  elev = elevation(s, end)
  foreshortened = (e is not None and w is not None and distance(s, e) < FORESHORTENED_MAX_UNITS * u
                   and distance(s, w) < FORESHORTENED_MAX_UNITS * u)
  head_top = pose.p(HEAD_TOP)
  horizontal_body = (pose.up is not None and pose.torso_phi >= TORSO_HORIZONTAL_MIN_DEG)
  if foreshortened:
    main.append("pointing towards or away from the camera")
  elif horizontal_body:
    # Lying, bent over or upside down: "raised" means towards the head, in the body's frame.
    along = vec_dot(vec_sub(end, s), pose.up) / u
    beyond_head = head_top is not None and vec_dot(vec_sub(end, head_top), pose.up) > 0
    if along > ARM_RAISED_MIN_UNITS:
      kind = "raised"
      main.append("stretched out beyond the head" if beyond_head
                  else "reaching up past the shoulder towards the head")
    elif along < -ARM_RAISED_MIN_UNITS and abs(along) * u > 0.5 * distance(s, end):
      kind = "lowered"
      main.append("lowered along the body towards the hips")
    else:
      kind = "level"
      main.append("held out sideways from the body")
  elif rise > ARM_RAISED_MIN_UNITS:
    kind = "raised"
    above_head = (end[1] < head_top[1]) if head_top is not None else (
        rise > ARM_ABOVE_HEAD_MIN_UNITS)
    main.append("raised above their head" if above_head else "raised above shoulder height")
  elif elev is not None:
    out = pose.outward(side, s, end)
    outwards = out is not None and out > OUT_TO_SIDE_MIN_UNITS
    if elev >= -LEVEL_MAX_ABS_DEG:
      kind = "level"
      main.append("extended out to the side at shoulder height" if outwards
                  else "held out at about shoulder height")
    elif elev > POINTING_DOWN_MAX_DEG:
      kind = "lowered"
      main.append("lowered and held away from the body" if outwards
                  else "lowered at an angle")
    else:
      kind = "lowered"
      main.append("lowered")
  if e is not None and w is not None:
    main.append(_bend_phrase(angle_at(s, e, w), "elbow"))
  across = pose.across_midline(side, end)
  if across is not None and across > ACROSS_BODY_MIN_UNITS:
    main.append("reaching across the body")
  if w is not None and kind != "raised" and pose.has(UPPER_NECK, HEAD_TOP):
    head = midpoint(pose.p(UPPER_NECK), pose.p(HEAD_TOP))
    if distance(w, head) < HAND_NEAR_HEAD_MAX_UNITS * u:
      with_.append("the hand near the head")
  return _sentence(f"Their {side} arm", main, with_), kind


def _torso_sentence(pose: Pose) -> str | None:
  if pose.up is None:
    return None
  phi = pose.torso_phi
  with_: list[str] = []
  if phi < TORSO_UPRIGHT_MAX_DEG:
    main = "upright"
    if pose.view in ("front", "back") and pose.has(L_SHOULDER, R_SHOULDER):
      diff = (pose.p(R_SHOULDER)[1] - pose.p(L_SHOULDER)[1]) / pose.unit
      if abs(diff) > 0.15:
        high, low = ("left", "right") if diff > 0 else ("right", "left")
        with_.append(f"the {high} shoulder higher than the {low}")
  elif phi < TORSO_HORIZONTAL_MIN_DEG:
    main = f"leaning {pose.lean_direction()} (about {about_deg(phi)} degrees from vertical)"
  elif phi < TORSO_INVERTED_MIN_DEG:
    main = "roughly horizontal"
  else:
    main = "upside down"
  return _sentence("Their torso", [main], with_)


def _head_sentence(pose: Pose) -> str | None:
  if not pose.has(UPPER_NECK, HEAD_TOP):
    return None
  neck, top = pose.p(UPPER_NECK), pose.p(HEAD_TOP)
  head = normalized(vec_sub(top, neck))
  if head is None:
    return None
  ref, ref_name = None, "upright"
  if pose.has(THORAX) and pose.unit is not None:
    seg = vec_sub(neck, pose.p(THORAX))
    if vec_length(seg) >= 0.1 * pose.unit:
      ref, ref_name = normalized(seg), "in line with the neck"
  if ref is None and pose.up is not None:
    ref, ref_name = pose.up, "in line with the torso"
  if ref is None:
    ref = (0.0, -1.0)
  tilt = math.degrees(math.atan2(vec_cross(ref, head), vec_dot(ref, head)))
  main: list[str] = []
  if abs(tilt) < HEAD_TILT_MIN_DEG:
    main.append(ref_name)
  else:
    along = vec_dot(head, ref)
    off = (head[0] - along * ref[0], head[1] - along * ref[1])
    strength = "sharply tilted" if abs(tilt) >= HEAD_SHARP_TILT_MIN_DEG else "tilted"
    if pose.lateral is not None:
      where = "to their left" if vec_dot(off, pose.lateral) > 0 else "to their right"
    elif pose.forward is not None:
      where = ("forward and down" if vec_dot(off, pose.forward) > 0 else "back and up")
    else:
      where = "away from the line of the neck"
    main.append(f"{strength} {where} (about {about_deg(abs(tilt))} degrees)")
  elev = elevation(neck, top)
  with_ = ["the top of the head pointing down"] if elev is not None and elev < -30 else []
  return _sentence("Their head", main, with_)


def _visibility_clause(pose: Pose) -> str:
  missing = [joint_name(j) for j in range(NUM_JOINTS) if pose.pts[j] is None]
  n = NUM_JOINTS - len(missing)
  legs = (R_ANKLE, R_KNEE, L_KNEE, L_ANKLE)
  upper = (UPPER_NECK, HEAD_TOP, R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST)
  if not missing:
    return "with their whole body visible"
  if n == 0:
    return "with none of their joints visible"
  if len(missing) <= 2:
    return "with every joint visible except the " + join_words(missing)
  if all(pose.pts[j] is None for j in legs):
    return "with only their upper body visible"
  if all(pose.pts[j] is None for j in upper):
    return "with only their lower body visible"
  return f"with {count_words(n)} of their {count_words(NUM_JOINTS)} joints visible"


_VIEW_CLAUSE = {"front": "facing the camera", "back": "turned away from the camera",
                "side": "seen from the side"}


def describe(people_kpts, people_vis, activity: str, *, centers=None, scales=None,
             image_size: tuple[int, int] | None = None, ages=None) -> str:
  """A pose paragraph in the paper's template, from keypoint geometry alone (no LLM).

  Args:
    people_kpts: [P, 16, 2] (x, y) image pixels in MPII joint order (y down; -1 = missing).
    people_vis: [P, 16] visibility flags (0 = invisible: the joint is ignored).
    activity: MPII "<category>, <activity name>".
    centers: optional [P, 2] person centres (default: the mean of the visible joints); they
      place several people left/right of each other.
    scales: optional [P] MPII scales (box side = scale * 200 px); with several people, a
      clearly larger/smaller scale marks the foreground/background.
    image_size: optional (height, width) in pixels; used to say when people are spread
      across the image.
    ages: optional [P] ages in years (None = unknown); a known age names the person a
      child, teenager or adult (``age_noun``) instead of "person".

  Returns:
    Opening sentence, general sentence, then per person (left to right) a location/state
    sentence and one sentence each for the left leg, right leg, left arm, right arm, torso
    and head; limbs whose joints are invisible are left out. Deterministic.
  """
  kpts = [np.asarray(k, np.float64).reshape(-1, 2) for k in people_kpts]
  vis = [np.asarray(v, np.float64).reshape(-1) for v in people_vis]
  if len(kpts) != len(vis):
    raise ValueError(f"{len(kpts)} keypoint sets but {len(vis)} visibility sets")
  n = len(kpts)
  scale_list: list[float | None] = [None] * n
  if scales is not None:
    scale_list = [float(s) if s is not None and math.isfinite(float(s)) and float(s) > 0
                  else None for s in scales]
  poses = []
  for i in range(n):
    k = np.full((NUM_JOINTS, 2), -1.0)
    v = np.zeros((NUM_JOINTS,))
    k[:min(NUM_JOINTS, len(kpts[i]))] = kpts[i][:NUM_JOINTS]
    v[:min(NUM_JOINTS, len(vis[i]))] = vis[i][:NUM_JOINTS]
    poses.append(Pose(k.tolist(), v.tolist(), scale_list[i]))
  nouns = [age_noun(a) for a in ages] if ages is not None else ["person"] * n
  if len(nouns) != n:
    raise ValueError(f"{n} people but {len(nouns)} ages")
  sentences = [opening_sentence(n, activity, nouns[0] if n == 1 else "person")]
  if n == 0:
    return sentences[0]

  center_list: list[Point | None] = []
  for i, pose in enumerate(poses):
    c = None
    if centers is not None and centers[i] is not None:
      cx, cy = float(centers[i][0]), float(centers[i][1])
      if math.isfinite(cx) and math.isfinite(cy) and cx >= 0 and cy >= 0:
        c = (cx, cy)
    if c is None and pose.num_visible:
      vis_pts = [p for p in pose.pts if p is not None]
      c = (sum(p[0] for p in vis_pts) / len(vis_pts), sum(p[1] for p in vis_pts) / len(vis_pts))
    center_list.append(c)
  heights = [s * 200.0 if s is not None else
             (p.unit * PERSON_HEIGHT_UNITS if p.unit is not None else None)
             for s, p in zip(scale_list, poses)]
  sizes = [s if s is not None else p.unit for s, p in zip(scale_list, poses)]
  labels = [label.replace("person", noun, 1)
            for label, noun in zip(locations(center_list, sizes), nouns)]

  person_texts, groups, arm_kinds, leg_kinds = [], [], [], []
  for pose, label in zip(poses, labels):
    state, group = pose.posture()
    groups.append(group)
    parts = [state]
    if pose.view in _VIEW_CLAUSE:
      parts.append(_VIEW_CLAUSE[pose.view])
    parts.append(_visibility_clause(pose))
    text = [f"The {label} is " + ", ".join(parts) + "."]
    spread = _legs_spread(pose)
    legs_kind = []
    first_leg = True
    for side in ("left", "right"):
      sentence, kind = _leg_sentence(pose, side, spread and first_leg)
      if sentence:
        first_leg = False
        text.append(sentence)
      legs_kind.append(kind)
    arms_kind = []
    for side in ("left", "right"):
      sentence, kind = _arm_sentence(pose, side)
      if sentence:
        text.append(sentence)
      arms_kind.append(kind)
    for sentence in (_torso_sentence(pose), _head_sentence(pose)):
      if sentence:
        text.append(sentence)
    person_texts.append(" ".join(text))
    arm_kinds.append(arms_kind)
    leg_kinds.append(legs_kind)
  sentences.append(general_sentence(poses, groups, arm_kinds, leg_kinds, center_list,
                                     heights, image_size))
  order = sorted(range(n), key=lambda i: (center_list[i] is None,
                                          center_list[i][0] if center_list[i] else 0.0, i))
  sentences.extend(person_texts[i] for i in order)
  return " ".join(sentences)


def describe_record(record: Mapping[str, Any], *,
                    image_size: tuple[int, int] | None = None) -> str:
  """``describe`` for an MPII Pose Descriptions record (people, activity); image_size (h, w)."""
  people = list(record.get("people") or [])
  kpts, vis, centers, scales, ages = [], [], [], [], []
  for person in people:
    ages.append(person.get("age"))  # not in MPII; the demo data has it
    k, v = person_arrays(person)
    kpts.append(k)
    vis.append(v)
    c = person.get("center")
    centers.append(list(c)[:2] if c is not None and len(c) >= 2 else None)
    s = person.get("scale")
    scales.append(float(s) if s is not None else None)
  return describe(kpts, vis, str(record.get("activity") or ""), centers=centers,
                  scales=scales, image_size=image_size, ages=ages)
