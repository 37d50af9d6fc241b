"""Words for the pose paragraphs: numbers, ordinals, MPII activity labels as verb phrases, ages.

The opening sentence of the paper's template ("There are two people in the image who are
playing tennis.") needs MPII's "<category>, <activity>" labels turned into a phrase that
follows "who is"; these rules are kept apart from the geometry so they can be read and tested
on their own.
"""

from __future__ import annotations

import math
from typing import Sequence

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


def ordinal(i: int) -> str:
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


def join_words(items: Sequence[str]) -> str:
  items = [i for i in items if i]
  if len(items) <= 1:
    return "".join(items)
  return ", ".join(items[:-1]) + " and " + items[-1]
