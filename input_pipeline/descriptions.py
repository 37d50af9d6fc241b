r"""Pose descriptions for MPII records: the paper's single-shot LLM prompting, and an offline stand-in.

FocusCLIP trains on MPII Pose Descriptions: one paragraph per image, written by an LLM that sees
only the activity label and the annotated keypoints, never the image (docs/method.md §4.2). The
released files cover the MPII train/val images; anything else (new images, other LLMs, ablations
on description quality) needs the generator, so this module re-implements it:

* **LLM prompting** (the paper's recipe). ``SYSTEM_PROMPT`` fixes the role, the 16-joint order,
  the coordinate convention and the required paragraph template; ``user_message(record)`` is the
  JSON of the record without ids and image name, keypoints as integers and invisible joints as
  [-1, -1]; ``DECODING`` / ``LLAMA2_DECODING`` are the paper's sampling settings. The LLM is a
  pluggable ``Client = (system, user, decoding) -> text``, so tests and new back ends plug in
  without network access; ``openai_client`` and ``llama2_client`` import their SDKs lazily.
* **A geometry describer** (``describe`` / ``describe_record``): deterministic rules on joint
  angles and relative positions that write the *same paragraph structure* without an LLM. It is
  not the paper's data (real training uses the released GPT-4 descriptions); it exists for
  offline runs, smoke tests, images without LLM descriptions and as a transparent baseline.
  Left/right are always the person's own sides (MPII convention; the person's left arm is
  joints 13-14-15 and, for someone facing the camera, appears on the viewer's right).
  Image coordinates have x to the right and y *down*; MPII's -1 marks a missing joint.

Command line (fills the ``description`` field of a JSON list of records):

  python -m input_pipeline.descriptions --annotations=IN.json --out=OUT.json \
      (--client=module:function | --geometry) [--limit=N] [--overwrite]

``module:function`` is called without arguments and must return a ``Client``, e.g.
``--client=input_pipeline.descriptions:openai_client`` (reads ``OPENAI_API_KEY``). The output is
rewritten atomically every ``--save_every`` records and on exit, failures leave the record
untouched and are listed in the summary, so rerunning with ``--annotations=OUT.json`` resumes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

# ------------------------------------------------------------------------------- constants

NUM_JOINTS = 16
# MPII joint order (as input_pipeline.heatmaps.MPII_JOINTS, with spaces).
JOINT_NAMES: tuple[str, ...] = (
    "right ankle", "right knee", "right hip", "left hip", "left knee", "left ankle",
    "pelvis", "thorax", "upper neck", "head top", "right wrist", "right elbow",
    "right shoulder", "left shoulder", "left elbow", "left wrist",
)
(R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, PELVIS, THORAX, UPPER_NECK, HEAD_TOP,
 R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST) = range(NUM_JOINTS)
LEGS = {"left": (L_HIP, L_KNEE, L_ANKLE), "right": (R_HIP, R_KNEE, R_ANKLE)}
ARMS = {"left": (L_SHOULDER, L_ELBOW, L_WRIST), "right": (R_SHOULDER, R_ELBOW, R_WRIST)}
_OTHER = {"left": "right", "right": "left"}

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

# ------------------------------------------------------------------------------- LLM prompting

SYSTEM_PROMPT = """\
You are an expert in human activity recognition and human body pose. You will receive the \
annotation of one photograph from the MPII Human Pose dataset as JSON, never the photograph \
itself. It gives the activity label as "<category>, <activity>" and, for every annotated \
person, an id, the centre of the person in the image, their scale (scale x 200 pixels is \
roughly the height of the box around the person) and 16 body keypoints.

The keypoints always come in this order:
0 right ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee, 5 left ankle, 6 pelvis, \
7 thorax, 8 upper neck, 9 head top, 10 right wrist, 11 right elbow, 12 right shoulder, \
13 left shoulder, 14 left elbow, 15 left wrist.
Each keypoint is an [x, y] pair of pixel coordinates in the image: x grows to the right and y \
grows downwards, so a smaller y is higher up. [-1, -1] means the joint is not visible; do not \
guess about it. Left and right are the person's own left and right, not the viewer's.

Work out each pose from the relative positions of the keypoints and write a single paragraph \
with exactly this structure:
1. An opening sentence "There is one person in the image who is <verb + activity>." or \
"There are <number written in words> people in the image who are <verb + activity>."
2. One sentence on the general attributes of the activity as the keypoints show them.
3. For each person, a sentence "The <location> person is <state> with their ...", where the \
location comes from the person's centre and scale (for example on the left, in the \
foreground) and the state (for example standing, sitting, bending, lying) is inferred from \
the pose and the activity.
4. Then, for that person, the left leg, right leg, left arm, right arm, torso and head, in \
this order: where each one is placed relative to the other limbs and how it is bent at the \
joints (knees, hips, elbows, neck).

Be concise and precise, do not quote coordinates or keypoint numbers, and use gender-neutral \
language (they, their)."""

# The paper's sampling settings for the OpenAI chat models (GPT-4 / GPT-3.5-turbo).
DECODING: dict[str, Any] = {"temperature": 0.5, "max_tokens": 512, "frequency_penalty": 1.0}
# The same for Llama-2-70b-chat through the Hugging Face inference API.
LLAMA2_DECODING: dict[str, Any] = {
    "temperature": 0.5, "max_new_tokens": 512, "repetition_penalty": 1.0}

# (system prompt, user message, decoding settings) -> description text.
Client = Callable[[str, str, dict], str]

# Record fields the LLM never sees (ids and file name carry no pose information).
USER_MESSAGE_DROPPED = ("video_id", "video_frame", "activity_id", "image", "description",
                        "descriptions")
_FIRST_FIELDS = ("activity", "count", "people", "istrain")


class DescriptionError(RuntimeError):
  """An LLM client failed to describe a record after every retry."""


def _round_int(v) -> int:
  return int(math.floor(float(v) + 0.5))


def _joint_visible(xy, v) -> bool:
  """MPII: visibility flag set and both coordinates present (-1 marks a missing joint)."""
  x, y = float(xy[0]), float(xy[1])
  return v > 0 and math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0


def _person_arrays(person: Mapping[str, Any]) -> tuple[list[tuple[float, float]], list[int]]:
  """A record's person -> 16 (x, y) and 16 visibility flags (missing entries invisible)."""
  raw = list(person.get("kpts") or [])[:NUM_JOINTS]
  kpts = [(float(p[0]), float(p[1])) if p is not None and len(p) >= 2 else (-1.0, -1.0)
          for p in raw]
  kpts += [(-1.0, -1.0)] * (NUM_JOINTS - len(kpts))
  raw_vis = person.get("kpts_vis")
  if raw_vis is None:
    vis = [1] * NUM_JOINTS
  else:
    vis = [1 if float(v) > 0 else 0 for v in list(raw_vis)[:NUM_JOINTS]]
    vis += [0] * (NUM_JOINTS - len(vis))
  vis = [1 if _joint_visible(k, v) else 0 for k, v in zip(kpts, vis)]
  return kpts, vis


def _person_message(person: Mapping[str, Any]) -> dict[str, Any]:
  kpts, vis = _person_arrays(person)
  out: dict[str, Any] = {}
  if "id" in person:
    out["id"] = person["id"]
  if person.get("center") is not None:
    out["center"] = [_round_int(c) for c in list(person["center"])[:2]]
  if person.get("scale") is not None:
    out["scale"] = round(float(person["scale"]), 3)
  out["kpts"] = [[_round_int(x), _round_int(y)] if v else [-1, -1]
                 for (x, y), v in zip(kpts, vis)]
  return out


def _json_default(o):
  if isinstance(o, np.generic):
    return o.item()
  if isinstance(o, np.ndarray):
    return o.tolist()
  raise TypeError(f"{type(o).__name__} is not JSON serializable")


def user_message(record: Mapping[str, Any]) -> str:
  """The paper's user message: the record as JSON, without ids, image name and description.

  Every person keeps ``id``, ``center`` (integer pixels), ``scale`` and ``kpts`` (16 integer
  [x, y]); invisible joints (``kpts_vis`` 0, or a negative coordinate) become [-1, -1], and
  ``kpts_vis`` itself is dropped. Other record fields (``activity``, ``count``, ``istrain``,
  anything else) are kept. Keys come in a fixed order, so the message does not depend on the
  input dictionary's order.
  """
  keys = [k for k in _FIRST_FIELDS if k in record]
  keys += sorted(k for k in record if k not in _FIRST_FIELDS)
  msg: dict[str, Any] = {}
  for key in keys:
    if key in USER_MESSAGE_DROPPED:
      continue
    if key == "people":
      msg["people"] = [_person_message(p) for p in (record["people"] or [])]
    else:
      msg[key] = record[key]
  return json.dumps(msg, ensure_ascii=False, default=_json_default)


def llama2_prompt(system: str, user: str) -> str:
  """Llama-2-chat single-turn format (the tokenizer adds the <s> BOS token itself)."""
  return f"[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]"


def llama2_decoding(decoding: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """GPT-style settings (``DECODING``) -> text-generation settings for Llama-2."""
  out = dict(LLAMA2_DECODING)
  decoding = dict(decoding or {})
  if "temperature" in decoding:
    out["temperature"] = decoding["temperature"]
  if "max_tokens" in decoding:
    out["max_new_tokens"] = decoding["max_tokens"]
  for key in ("max_new_tokens", "repetition_penalty", "top_p", "top_k", "seed"):
    if key in decoding:
      out[key] = decoding[key]
  return out


def describe_with_llm(record: Mapping[str, Any], client: Client, *, retries: int = 3,
                      decoding: Mapping[str, Any] | None = None,
                      system_prompt: str = SYSTEM_PROMPT, backoff_s: float = 0.0) -> str:
  """One single-shot LLM call per record (all people at once), retried on failure.

  Args:
    record: an MPII Pose Descriptions record.
    client: ``(system prompt, user message, decoding settings) -> text``.
    retries: total number of tries (the paper: 3).
    decoding: sampling settings passed to the client (default: a copy of ``DECODING``).
    system_prompt: default ``SYSTEM_PROMPT``.
    backoff_s: sleep ``backoff_s * try`` seconds between tries (rate limits).

  Returns:
    The stripped description. An exception from the client, or an empty / non-string answer,
    counts as a failed try.

  Raises:
    DescriptionError: after ``retries`` failed tries (chained to the last error).
  """
  if retries < 1:
    raise ValueError(f"retries must be >= 1, got {retries}")
  message = user_message(record)
  settings = dict(DECODING if decoding is None else decoding)
  last: Exception | None = None
  for attempt in range(1, retries + 1):
    try:
      text = client(system_prompt, message, dict(settings))
      if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty or non-text answer: {text!r:.80}")
      return text.strip()
    except Exception as e:  # pylint: disable=broad-except
      last = e
      logging.warning("LLM try %d/%d failed for %s: %s: %s", attempt, retries,
                      record.get("image", "<record>"), type(e).__name__, e)
      if attempt < retries and backoff_s > 0:
        time.sleep(backoff_s * attempt)
  raise DescriptionError(
      f"The LLM client failed to describe {record.get('image', 'the record')!s} after "
      f"{retries} tries; last error: {type(last).__name__}: {last}") from last


def openai_client(model: str = "gpt-4-0613", api_key: str | None = None) -> Client:
  """A ``Client`` for the OpenAI chat API (the paper's GPT-4 / GPT-3.5 descriptions).

  ``api_key`` defaults to the ``OPENAI_API_KEY`` environment variable. Supports the ``openai``
  package >= 1.0 and the legacy 0.x API the reference used.
  """
  try:
    import openai  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "openai_client needs the OpenAI Python package, which is not installed: "
        "pip install openai") from e

  def messages(system, user):
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]

  if hasattr(openai, "OpenAI"):
    api = openai.OpenAI(api_key=api_key) if api_key else openai.OpenAI()

    def client(system: str, user: str, decoding: dict) -> str:
      resp = api.chat.completions.create(model=model, messages=messages(system, user),
                                         **decoding)
      return resp.choices[0].message.content or ""
  else:  # openai < 1.0
    if api_key:
      openai.api_key = api_key

    def client(system: str, user: str, decoding: dict) -> str:
      resp = openai.ChatCompletion.create(model=model, messages=messages(system, user),
                                          **decoding)
      return resp["choices"][0]["message"]["content"] or ""
  return client


def llama2_client(model: str = "meta-llama/Llama-2-70b-chat-hf",
                  token: str | None = None) -> Client:
  """A ``Client`` for Llama-2-chat via Hugging Face inference (the paper's ``llama-2`` subset).

  The prompt is ``llama2_prompt(system, user)``; GPT-style settings are mapped with
  ``llama2_decoding`` (temperature 0.5, max_new_tokens 512, repetition_penalty 1.0).
  """
  try:
    from huggingface_hub import InferenceClient  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("llama2_client needs huggingface_hub: pip install huggingface_hub") from e
  api = InferenceClient(model=model, token=token)

  def client(system: str, user: str, decoding: dict) -> str:
    return api.text_generation(llama2_prompt(system, user), **llama2_decoding(decoding))
  return client


# ------------------------------------------------------------------------------- words

_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def count_words(n: int) -> str:
  """0..99 in words ("twenty-one"); larger numbers as digits."""
  n = int(n)
  if 0 <= n < 20:
    return _SMALL[n]
  if 20 <= n < 100:
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_SMALL[ones]}" if ones else "")
  return str(n)


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth")


def _ordinal(i: int) -> str:
  """0 -> 'first' ..."""
  return _ORDINALS[i] if i < len(_ORDINALS) else f"{i + 1}th"


# Words ending in -ing that are not verbs.
_NOT_GERUNDS = frozenset({
    "thing", "something", "anything", "nothing", "everything", "king", "ring", "spring",
    "string", "swing", "sling", "wing", "ceiling", "evening", "morning", "clothing", "building",
    "wedding", "bedding", "pudding", "during", "sibling", "lightning", "awning", "icing",
    "ping", "ding", "sing", "bring", "thong", "viking", "railing", "siding", "ding-dong"})
# Activity nouns one "plays" (MPII sports and games).
_PLAYED = frozenset({
    "golf", "tennis", "badminton", "hockey", "ice hockey", "field hockey", "squash", "cricket",
    "polo", "frisbee", "lacrosse", "rugby", "soccer", "billiards", "darts", "chess", "cards",
    "table tennis", "ping pong", "ping-pong", "handball", "hacky sack", "croquet", "curling",
    "shuffleboard", "water polo", "horseshoe pitching", "bocce", "board game", "video game",
    "video games", "drums", "guitar", "piano", "violin", "flute", "trumpet", "cello"})
# Categories whose first word names what is done with the activity name.
_CATEGORY_VERBS = {"music playing": "playing"}
_DROPPED_QUALIFIERS = frozenset({"general", "other", "misc", "miscellaneous"})


def _is_gerund(word: str) -> bool:
  w = word.lower().strip("()\"'.;:")
  return len(w) >= 5 and w.endswith("ing") and w not in _NOT_GERUNDS


def _starts_with_verb(phrase: str) -> bool:
  words = phrase.split()
  return bool(words) and _is_gerund(words[0])


def _is_verb_category(category: str) -> bool:
  """"bicycling", "fishing and hunting" (not "conditioning exercise")."""
  words = category.split()
  return bool(words) and all(_is_gerund(w) or w.lower() == "and" for w in words)


def activity_phrase(activity: str | None) -> str:
  """MPII "<category>, <activity name>" -> a verb phrase for "... who is <phrase>".

  "sports, curling" -> "curling"; "occupation, washing windows" -> "washing windows";
  "bicycling, mountain" -> "bicycling (mountain)"; "sports, softball, general" -> "playing
  softball"; "conditioning exercise, circuit training" -> "engaged in circuit training".
  Rules, in order: the first activity-name part starting with an -ing verb is the verb phrase
  (the other parts become a parenthesised qualifier); else a verb category ("music playing")
  or an -ing category ("bicycling") governs the name; else a played game/instrument gets
  "playing"; else "engaged in <name>".
  """
  parts = [p.strip() for p in str(activity or "").replace(";", ",").split(",")]
  parts = [" ".join(p.split()) for p in parts if p.strip()]
  if not parts:
    return "engaged in an activity"
  category, names = (parts[0], parts[1:]) if len(parts) > 1 else (None, parts)
  main = None
  quals: list[str] = []
  for i, p in enumerate(names):
    if _starts_with_verb(p):
      main, quals = p, names[:i] + names[i + 1:]
      break
  if main is None:
    head, rest = names[0], names[1:]
    if category and category.lower() in _CATEGORY_VERBS:
      main, quals = f"{_CATEGORY_VERBS[category.lower()]} {head}", rest
    elif category and _is_verb_category(category):
      main, quals = category, names
    elif head.lower() in _PLAYED or head.lower().endswith("ball"):
      main, quals = f"playing {head}", rest
    else:
      main, quals = f"engaged in {head}", rest
  quals = [q.replace("(", "").replace(")", "").strip() for q in quals]
  quals = [q for q in quals if q and q.lower() not in _DROPPED_QUALIFIERS
           and q.lower() not in main.lower()]
  return main + (f" ({', '.join(quals)})" if quals else "")


# Age (years) -> the noun used for a person when a record gives their age (MPII does not;
# the demo data does). (upper bound exclusive, noun); older than the last bound: "adult".
AGE_NOUNS = ((13, "child"), (18, "teenager"))


def age_noun(age) -> str:
  """"child" (< 13), "teenager" (13-17), "adult" (>= 18), or "person" if the age is unknown."""
  try:
    a = float(age)
  except (TypeError, ValueError):
    return "person"
  if not math.isfinite(a) or a < 0:
    return "person"
  for bound, noun in AGE_NOUNS:
    if a < bound:
      return noun
  return "adult"


def opening_sentence(count: int, activity: str | None, noun: str = "person") -> str:
  """"There is one person ... who is <phrase>." / "There are <n> people ... who are ..."."""
  phrase = activity_phrase(activity)
  if count <= 0:
    return f"There are no annotated people in the image, whose activity is {phrase}."
  if count == 1:
    return f"There is one {noun} in the image who is {phrase}."
  return f"There are {count_words(count)} people in the image who are {phrase}."


def _join(items: Sequence[str]) -> str:
  items = [i for i in items if i]
  if len(items) <= 1:
    return "".join(items)
  return ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------------------- geometry

Point = tuple[float, float]


def _sub(a: Point, b: Point) -> Point:
  return (a[0] - b[0], a[1] - b[1])


def _dot(a: Point, b: Point) -> float:
  return a[0] * b[0] + a[1] * b[1]


def _cross(a: Point, b: Point) -> float:
  return a[0] * b[1] - a[1] * b[0]


def _length(v: Point) -> float:
  return math.hypot(v[0], v[1])


def _dist(a: Point, b: Point) -> float:
  return _length(_sub(a, b))


def _mid(a: Point, b: Point) -> Point:
  return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def _normalized(v: Point) -> Point | None:
  n = _length(v)
  return None if n <= 1e-9 else (v[0] / n, v[1] / n)


def _angle_at(a: Point, b: Point, c: Point) -> float | None:
  """Interior angle a-b-c in degrees (180 = straight); None when degenerate."""
  u, w = _normalized(_sub(a, b)), _normalized(_sub(c, b))
  if u is None or w is None:
    return None
  return math.degrees(math.acos(max(-1.0, min(1.0, _dot(u, w)))))


def _elevation(a: Point, b: Point) -> float | None:
  """Direction of a -> b above the image horizontal, degrees (+90 up, -90 down; y is down)."""
  dx, dy = b[0] - a[0], b[1] - a[1]
  if math.hypot(dx, dy) <= 1e-9:
    return None
  return math.degrees(math.atan2(-dy, abs(dx)))


def _about(deg: float) -> int:
  """Angles are reported to the nearest 5 degrees (annotation noise is larger than 1)."""
  return int(5 * math.floor(deg / 5 + 0.5))


class _Pose:
  """One person's visible joints and the body frame derived from them."""

  def __init__(self, kpts, vis, scale: float | None = None):
    self.pts: list[Point | None] = []
    for j in range(NUM_JOINTS):
      xy, v = kpts[j], vis[j]
      self.pts.append((float(xy[0]), float(xy[1])) if _joint_visible(xy, v) else None)
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
        best = max(best, _dist(self.pts[a], self.pts[b]) / ratio)
    if best <= 1e-6 and scale and scale > 0:
      best = float(scale) * 200.0 / PERSON_HEIGHT_UNITS
    return best if best > 1e-6 else None

  def top(self) -> Point | None:
    if self.has(THORAX):
      return self.pts[THORAX]
    if self.has(R_SHOULDER, L_SHOULDER):
      return _mid(self.pts[R_SHOULDER], self.pts[L_SHOULDER])
    return None

  def bottom(self) -> Point | None:
    if self.has(PELVIS):
      return self.pts[PELVIS]
    if self.has(R_HIP, L_HIP):
      return _mid(self.pts[R_HIP], self.pts[L_HIP])
    return None

  def _torso_axis(self):
    top, bottom = self.top(), self.bottom()
    if top is None or bottom is None or self.unit is None:
      return None, None
    axis = _sub(top, bottom)
    if _length(axis) < MIN_SEGMENT_UNITS * self.unit:
      return None, None
    up = _normalized(axis)
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
      rl = _sub(self.pts[l], self.pts[r])
      along = _dot(rl, up)
      perp = (rl[0] - along * up[0], rl[1] - along * up[1])
      if _length(perp) < FRONTAL_MIN_WIDTH_FRACTION * expected * self.unit:
        return "side", None
      # Facing the camera, the person's left is on the viewer's right: up x (right->left) > 0.
      return ("front" if _cross(up, rl) > 0 else "back"), _normalized(perp)
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
        angle = _angle_at(self.pts[hip], self.pts[knee], self.pts[ankle])
        if angle is not None and angle < STRAIGHT_MIN_DEG:  # knees bend forwards
          offset = _sub(self.pts[knee], _mid(self.pts[hip], self.pts[ankle]))
          vote += _dot(offset, perp) / self.unit
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
    return sign * _dot(_sub(end, base), self.lateral) / self.unit

  def across_midline(self, side: str, end: Point) -> float | None:
    """Front/back views: how far ``end`` crosses the body midline to the other side."""
    if self.lateral is None:
      return None
    mids = [m for m in (self.top(), self.bottom()) if m is not None]
    if not mids:
      return None
    mid = mids[0]
    sign = 1.0 if side == "left" else -1.0
    return -sign * _dot(_sub(end, mid), self.lateral) / self.unit

  # ---------------------------------------------------------------------- legs and posture

  def leg(self, side: str) -> dict[str, Any] | None:
    hip, knee, ankle = LEGS[side]
    h, k, a = self.pts[hip], self.pts[knee], self.pts[ankle]
    if h is None or (k is None and a is None) or self.unit is None:
      return None
    info: dict[str, Any] = {"hip": h, "knee": k, "ankle": a, "angle": None, "thigh": None,
                            "shin": None, "whole": None, "drop": None}
    if k is not None and a is not None:
      info["angle"] = _angle_at(h, k, a)
      info["shin"] = _elevation(k, a)
    if k is not None:
      info["thigh"] = _elevation(h, k)
    end = a if a is not None else k
    info["whole"] = _elevation(h, end)
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


# ------------------------------------------------------------------------------- sentences


def _bend_phrase(angle: float | None, joint: str) -> str | None:
  if angle is None:
    return None
  if angle >= STRAIGHT_MIN_DEG:
    return "straight"
  if angle >= BENT_MAX_DEG:
    return f"slightly bent at the {joint}"
  if angle >= SHARP_BEND_MAX_DEG:
    return f"bent at the {joint} (about {_about(angle)} degrees)"
  return f"sharply bent at the {joint} (about {_about(angle)} degrees)"


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
  text = f"{subject} is {_join(main)}" if main else f"{subject} is visible"
  if with_:
    text += ", with " + _join(with_)
  return text + "."


def _leg_sentence(pose: _Pose, side: str, spread: bool) -> tuple[str | None, str | None]:
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


def _legs_spread(pose: _Pose) -> bool:
  if not pose.has(L_ANKLE, R_ANKLE, L_HIP, R_HIP) or pose.unit is None:
    return False
  feet = _dist(pose.p(L_ANKLE), pose.p(R_ANKLE))
  hips = _dist(pose.p(L_HIP), pose.p(R_HIP))
  return feet > LEGS_SPREAD_MIN_UNITS * pose.unit and feet > LEGS_SPREAD_MIN_RATIO * hips


def _arm_sentence(pose: _Pose, side: str) -> tuple[str | None, str | None]:
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
  elev = _elevation(s, end)
  foreshortened = (e is not None and w is not None and _dist(s, e) < FORESHORTENED_MAX_UNITS * u
                   and _dist(s, w) < FORESHORTENED_MAX_UNITS * u)
  head_top = pose.p(HEAD_TOP)
  horizontal_body = (pose.up is not None and pose.torso_phi >= TORSO_HORIZONTAL_MIN_DEG)
  if foreshortened:
    main.append("pointing towards or away from the camera")
  elif horizontal_body:
    # Lying, bent over or upside down: "raised" means towards the head, in the body's frame.
    along = _dot(_sub(end, s), pose.up) / u
    beyond_head = head_top is not None and _dot(_sub(end, head_top), pose.up) > 0
    if along > ARM_RAISED_MIN_UNITS:
      kind = "raised"
      main.append("stretched out beyond the head" if beyond_head
                  else "reaching up past the shoulder towards the head")
    elif along < -ARM_RAISED_MIN_UNITS and abs(along) * u > 0.5 * _dist(s, end):
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
    main.append(_bend_phrase(_angle_at(s, e, w), "elbow"))
  across = pose.across_midline(side, end)
  if across is not None and across > ACROSS_BODY_MIN_UNITS:
    main.append("reaching across the body")
  if w is not None and kind != "raised" and pose.has(UPPER_NECK, HEAD_TOP):
    head = _mid(pose.p(UPPER_NECK), pose.p(HEAD_TOP))
    if _dist(w, head) < HAND_NEAR_HEAD_MAX_UNITS * u:
      with_.append("the hand near the head")
  return _sentence(f"Their {side} arm", main, with_), kind


def _torso_sentence(pose: _Pose) -> str | None:
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
    main = f"leaning {pose.lean_direction()} (about {_about(phi)} degrees from vertical)"
  elif phi < TORSO_INVERTED_MIN_DEG:
    main = "roughly horizontal"
  else:
    main = "upside down"
  return _sentence("Their torso", [main], with_)


def _head_sentence(pose: _Pose) -> str | None:
  if not pose.has(UPPER_NECK, HEAD_TOP):
    return None
  neck, top = pose.p(UPPER_NECK), pose.p(HEAD_TOP)
  head = _normalized(_sub(top, neck))
  if head is None:
    return None
  ref, ref_name = None, "upright"
  if pose.has(THORAX) and pose.unit is not None:
    seg = _sub(neck, pose.p(THORAX))
    if _length(seg) >= 0.1 * pose.unit:
      ref, ref_name = _normalized(seg), "in line with the neck"
  if ref is None and pose.up is not None:
    ref, ref_name = pose.up, "in line with the torso"
  if ref is None:
    ref = (0.0, -1.0)
  tilt = math.degrees(math.atan2(_cross(ref, head), _dot(ref, head)))
  main: list[str] = []
  if abs(tilt) < HEAD_TILT_MIN_DEG:
    main.append(ref_name)
  else:
    along = _dot(head, ref)
    off = (head[0] - along * ref[0], head[1] - along * ref[1])
    strength = "sharply tilted" if abs(tilt) >= HEAD_SHARP_TILT_MIN_DEG else "tilted"
    if pose.lateral is not None:
      where = "to their left" if _dot(off, pose.lateral) > 0 else "to their right"
    elif pose.forward is not None:
      where = ("forward and down" if _dot(off, pose.forward) > 0 else "back and up")
    else:
      where = "away from the line of the neck"
    main.append(f"{strength} {where} (about {_about(abs(tilt))} degrees)")
  elev = _elevation(neck, top)
  with_ = ["the top of the head pointing down"] if elev is not None and elev < -30 else []
  return _sentence("Their head", main, with_)


def _visibility_clause(pose: _Pose) -> str:
  missing = [JOINT_NAMES[j] for j in range(NUM_JOINTS) if pose.pts[j] is None]
  n = NUM_JOINTS - len(missing)
  legs = (R_ANKLE, R_KNEE, L_KNEE, L_ANKLE)
  upper = (UPPER_NECK, HEAD_TOP, R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST)
  if not missing:
    return "with their whole body visible"
  if n == 0:
    return "with none of their joints visible"
  if len(missing) <= 2:
    return "with every joint visible except the " + _join(missing)
  if all(pose.pts[j] is None for j in legs):
    return "with only their upper body visible"
  if all(pose.pts[j] is None for j in upper):
    return "with only their lower body visible"
  return f"with {count_words(n)} of their {count_words(NUM_JOINTS)} joints visible"


_VIEW_CLAUSE = {"front": "facing the camera", "back": "turned away from the camera",
                "side": "seen from the side"}


def _locations(centers: list[Point | None], sizes: list[float | None]) -> list[str]:
  """Noun phrases ("person on the left of the image", ...) from centres and sizes."""
  n = len(centers)
  if n == 1:
    return ["person"]
  order = sorted(range(n), key=lambda i: (centers[i] is None,
                                          centers[i][0] if centers[i] else 0.0, i))
  if any(c is None for c in centers):
    names = [f"{_ordinal(r)} person" for r in range(n)]
  elif n == 2:
    names = ["person on the left of the image", "person on the right of the image"]
  elif n == 3:
    names = ["person on the left of the image", "person in the middle",
             "person on the right of the image"]
  else:
    names = []
    for r in range(n):
      if r == 0:
        names.append("leftmost person")
      elif r == n - 1:
        names.append("rightmost person")
      elif n % 2 == 1 and r == n // 2:
        names.append("person in the middle")
      elif r < n / 2:
        names.append(f"{_ordinal(r)} person from the left")
      else:
        names.append(f"{_ordinal(n - 1 - r)} person from the right")
  labels = [""] * n
  for rank, i in enumerate(order):
    labels[i] = names[rank]
  known = [s for s in sizes if s is not None and s > 0]
  if len(known) == n and max(known) / min(known) >= DEPTH_MIN_SCALE_RATIO:
    big, small = max(known), min(known)
    for i, s in enumerate(sizes):
      if s >= big / DEPTH_BAND:
        labels[i] += ", in the foreground,"
      elif s <= small * DEPTH_BAND:
        labels[i] += ", in the background,"
  return labels


_GROUP_WORDS = {"upright": "upright", "low": "low to the ground", "lying": "lying down",
                "bent": "bent over", "inverted": "upside down", None: "only partly visible"}
_GROUP_ORDER = ("upright", "low", "bent", "lying", "inverted", None)


def _general_sentence(poses: list[_Pose], groups: list[str | None], arm_kinds: list[list],
                      leg_kinds: list[list], centers: list[Point | None],
                      heights: list[float | None], image_size) -> str:
  n = len(poses)
  if n == 1:
    group = groups[0]
    arms = [k for k in arm_kinds[0] if k]
    legs = [k for k in leg_kinds[0] if k]
    extras = []
    raised = arms.count("raised")
    if raised:
      extras.append("both arms raised" if raised == 2 else "one arm raised")
    elif arms and all(k == "lowered" for k in arms):
      extras.append("the arms lowered" if len(arms) == 2 else "the visible arm lowered")
    if legs and all(k == "bent" for k in legs):
      extras.append("the knees bent" if len(legs) == 2 else "one knee bent")
    elif legs and all(k == "straight" for k in legs):
      extras.append("the legs straight" if len(legs) == 2 else "the visible leg straight")
    if group is None and not extras:
      return "Only part of the person's body is annotated, so their pose is only partly known."
    if group is None:
      return f"Judging from the keypoints, the person has {_join(extras)}."
    where = {"upright": "in an upright position", "low": "low to the ground",
             "lying": "lying down", "bent": "bent over", "inverted": "upside down"}[group]
    extra = f", with {_join(extras)}" if extras else ""
    return f"Judging from the keypoints, the activity is performed {where}{extra}."
  counts = {g: groups.count(g) for g in _GROUP_ORDER if groups.count(g)}
  ranked = sorted(counts, key=lambda g: (-counts[g], _GROUP_ORDER.index(g)))
  if len(ranked) == 1:
    quant = "both people" if n == 2 else f"all {count_words(n)} people"
    body = f"{quant} are {_GROUP_WORDS[ranked[0]]}"
  else:
    first, *rest = ranked
    c = counts[first]
    body = f"{count_words(c)} of the {count_words(n)} people {'is' if c == 1 else 'are'} " \
           f"{_GROUP_WORDS[first]}"
    for g in rest:
      c = counts[g]
      body += f", {count_words(c)} {'is' if c == 1 else 'are'} {_GROUP_WORDS[g]}"
  raised = sum(1 for kinds in arm_kinds if "raised" in kinds)
  clauses = [body]
  if raised:
    who = ("both of them" if raised == 2 == n else "all of them" if raised == n
           else f"{count_words(raised)} of them")
    clauses.append(f"{who} {'has' if raised == 1 else 'have'} an arm raised")
  pts = [c for c in centers if c is not None]
  hs = [h for h in heights if h is not None and h > 0]
  spread = None
  if image_size is not None and len(pts) == n and image_size[1] > 0:
    xs = [c[0] for c in pts]
    if (max(xs) - min(xs)) / float(image_size[1]) >= IMAGE_SPREAD_MIN_FRACTION:
      spread = "they are spread across the image"
  if spread is None and len(pts) == n and hs:
    widest = max(_dist(a, b) for a in pts for b in pts)
    rel = widest / (sum(hs) / len(hs))
    spread = ("they are close together" if rel < CLOSE_MAX_HEIGHTS else
              "they are far apart" if rel >= FAR_MIN_HEIGHTS else
              "they are a short distance apart")
  if spread:
    clauses.append(spread)
  return "Judging from the keypoints, " + _join(clauses) + "."


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
    poses.append(_Pose(k.tolist(), v.tolist(), scale_list[i]))
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
            for label, noun in zip(_locations(center_list, sizes), nouns)]

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
  sentences.append(_general_sentence(poses, groups, arm_kinds, leg_kinds, center_list,
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
    k, v = _person_arrays(person)
    kpts.append(k)
    vis.append(v)
    c = person.get("center")
    centers.append(list(c)[:2] if c is not None and len(c) >= 2 else None)
    s = person.get("scale")
    scales.append(float(s) if s is not None else None)
  return describe(kpts, vis, str(record.get("activity") or ""), centers=centers,
                  scales=scales, image_size=image_size, ages=ages)


# ------------------------------------------------------------------------------- filling


def has_description(record: Mapping[str, Any]) -> bool:
  d = record.get("description")
  if isinstance(d, (list, tuple)):
    return any(isinstance(x, str) and x.strip() for x in d)
  return isinstance(d, str) and bool(d.strip())


def fill_descriptions(records: Sequence[Mapping[str, Any]],
                      describe_fn: Callable[[Mapping[str, Any]], str], *,
                      overwrite: bool = False, limit: int | None = None,
                      progress: Callable[[int, list, dict], None] | None = None,
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
  """Fills ``description`` of every record that lacks one (all with ``overwrite``).

  Args:
    records: MPII Pose Descriptions records (not modified; shallow copies are returned).
    describe_fn: record -> description (e.g. ``describe_record`` or a ``describe_with_llm``
      closure). An exception or empty text leaves the record as it was and counts as failed.
    overwrite: also redo records that already have a description.
    limit: describe at most this many records; the rest count as ``pending``.
    progress: called as ``progress(index, records, stats)`` after each attempted record
      (the CLI uses it to save and report).

  Returns:
    (records, stats) with stats = {total, filled, skipped, failed, pending, failures: [{index,
    image, error}]}.
  """
  out = [dict(r) for r in records]
  stats: dict[str, Any] = {"total": len(out), "filled": 0, "skipped": 0, "failed": 0,
                           "pending": 0, "failures": []}
  attempted = 0
  for i, rec in enumerate(out):
    if not overwrite and has_description(rec):
      stats["skipped"] += 1
      continue
    if limit is not None and attempted >= limit:
      stats["pending"] += 1
      continue
    attempted += 1
    try:
      text = describe_fn(rec)
      if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty or non-text description: {text!r:.80}")
    except Exception as e:  # pylint: disable=broad-except
      stats["failed"] += 1
      stats["failures"].append({"index": i, "image": rec.get("image"),
                                "error": f"{type(e).__name__}: {e}"})
      logging.warning("No description for record %d (%s): %s: %s", i, rec.get("image"),
                      type(e).__name__, e)
    else:
      rec["description"] = text.strip()
      stats["filled"] += 1
    if progress is not None:
      progress(i, out, stats)
  return out, stats


def load_client(spec: str) -> Client:
  """"package.module:function" -> function() (a Client factory called without arguments)."""
  module_name, sep, attr = spec.partition(":")
  if not sep or not module_name or not attr:
    raise ValueError(f"--client must look like module:function, got {spec!r}")
  factory = getattr(importlib.import_module(module_name), attr)
  client = factory()
  if not callable(client):
    raise TypeError(f"{spec}() returned {type(client).__name__}, not a callable Client")
  return client


def _load_json_records(path: str) -> list[dict[str, Any]]:
  with open(path, encoding="utf-8") as f:
    text = f.read()
  try:
    data = json.loads(text)
  except json.JSONDecodeError:
    data = [json.loads(line) for line in text.splitlines() if line.strip()]
  if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
    raise ValueError(f"{path}: expected a JSON list of records (objects)")
  return data


def _write_json_atomic(path: str, records: list) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(records, f, ensure_ascii=False, default=_json_default)
  os.replace(tmp, path)


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m input_pipeline.descriptions",
      description="Fill the 'description' field of MPII Pose Descriptions records.")
  parser.add_argument("--annotations", required=True, help="input JSON list of records")
  parser.add_argument("--out", required=True, help="output JSON (may equal --annotations)")
  how = parser.add_mutually_exclusive_group(required=True)
  how.add_argument("--client", help="module:function returning a Client (LLM prompting)")
  how.add_argument("--geometry", action="store_true",
                   help="use the offline keypoint-geometry describer")
  parser.add_argument("--limit", type=int, default=None,
                      help="describe at most N records (others are left as they are)")
  parser.add_argument("--overwrite", action="store_true",
                      help="also redo records that already have a description")
  parser.add_argument("--retries", type=int, default=3, help="LLM tries per record")
  parser.add_argument("--backoff", type=float, default=2.0,
                      help="seconds * try to wait between LLM tries")
  parser.add_argument("--save_every", type=int, default=10,
                      help="rewrite --out after this many attempted records")
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
  """CLI; returns 0 when every attempted record was described, 1 when some failed."""
  args = _parse_args(argv)
  records = _load_json_records(args.annotations)
  if args.geometry:
    describe_fn = describe_record
    source = "geometry"
  else:
    client = load_client(args.client)
    source = args.client

    def describe_fn(record):
      return describe_with_llm(record, client, retries=args.retries, backoff_s=args.backoff)

  print(f"[descriptions] {len(records)} records from {args.annotations}; describer: {source}",
        file=sys.stderr)
  state = {"records": [dict(r) for r in records], "attempted": 0}

  def progress(i, current, stats):
    state["records"] = current
    state["attempted"] += 1
    if state["attempted"] % max(1, args.save_every) == 0:
      _write_json_atomic(args.out, current)
      print(f"[descriptions] record {i + 1}/{stats['total']}: filled {stats['filled']}, "
            f"skipped {stats['skipped']}, failed {stats['failed']} (saved {args.out})",
            file=sys.stderr)

  stats = None
  try:
    _, stats = fill_descriptions(records, describe_fn, overwrite=args.overwrite,
                                 limit=args.limit, progress=progress)
  finally:  # also on KeyboardInterrupt: keep every description written so far
    _write_json_atomic(args.out, state["records"])
  # A run that attempted nothing never called progress(): state holds the unchanged copies.
  summary = (f"[descriptions] done: {stats['total']} records, filled {stats['filled']}, "
             f"skipped {stats['skipped']} (already described), failed {stats['failed']}, "
             f"pending {stats['pending']} (--limit); wrote {args.out}")
  print(summary)
  for f in stats["failures"]:
    print(f"  failed: record {f['index']} ({f['image']}): {f['error']}")
  return 1 if stats["failed"] else 0


if __name__ == "__main__":
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
  sys.exit(main())
