"""Several people in one image: where each one is (names like "person on the left") and the
paragraph's second sentence on what they have in common (docs/method.md §4.2 template).
"""

from __future__ import annotations

from focusclip_tools.describe.pose import CLOSE_MAX_HEIGHTS
from focusclip_tools.describe.pose import DEPTH_BAND
from focusclip_tools.describe.pose import DEPTH_MIN_SCALE_RATIO
from focusclip_tools.describe.pose import FAR_MIN_HEIGHTS
from focusclip_tools.describe.pose import IMAGE_SPREAD_MIN_FRACTION
from focusclip_tools.describe.pose import Point
from focusclip_tools.describe.pose import Pose
from focusclip_tools.describe.pose import distance
from focusclip_tools.describe.words import count_words
from focusclip_tools.describe.words import join_words
from focusclip_tools.describe.words import ordinal


def locations(centers: list[Point | None], sizes: list[float | None]) -> list[str]:
  """Noun phrases ("person on the left of the image", ...) from centres and sizes."""
  n = len(centers)
  if n == 1:
    return ["person"]
  order = sorted(range(n), key=lambda i: (centers[i] is None,
                                          centers[i][0] if centers[i] else 0.0, i))
  if any(c is None for c in centers):
    names = [f"{ordinal(r)} person" for r in range(n)]
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
        names.append(f"{ordinal(r)} person from the left")
      else:
        names.append(f"{ordinal(n - 1 - r)} person from the right")
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


def general_sentence(poses: list[Pose], groups: list[str | None], arm_kinds: list[list],
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
      return f"Judging from the keypoints, the person has {join_words(extras)}."
    where = {"upright": "in an upright position", "low": "low to the ground",
             "lying": "lying down", "bent": "bent over", "inverted": "upside down"}[group]
    extra = f", with {join_words(extras)}" if extras else ""
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
    widest = max(distance(a, b) for a in pts for b in pts)
    rel = widest / (sum(hs) / len(hs))
    spread = ("they are close together" if rel < CLOSE_MAX_HEIGHTS else
              "they are far apart" if rel >= FAR_MIN_HEIGHTS else
              "they are a short distance apart")
  if spread:
    clauses.append(spread)
  return "Judging from the keypoints, " + join_words(clauses) + "."
