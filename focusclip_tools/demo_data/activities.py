"""The demo's ten activities: pose families whose joint angles tell them apart.

Each ``Activity`` has an MPII-like activity string ("<category>, <name>", what the training
records hold), a zero-shot action name (the Stanford-40-style class) and a sampler of joint
angles from ranges chosen so that the families stay distinguishable from the skeleton alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from focusclip_tools.demo_data.skeleton import Pose
from focusclip_tools.demo_data.skeleton import uniform as _u  # short: the samplers use it often


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


def activity_list() -> list[dict[str, Any]]:
  return [{"key": a.key, "activity": a.activity, "activity_id": a.activity_id,
           "action": a.action, "prompt": a.prompt} for a in ACTIVITIES]
