"""The paper's single-shot LLM prompting for MPII pose descriptions (docs/method.md §4.2).

``SYSTEM_PROMPT`` fixes the role, the 16-joint order, the coordinate convention and the
required paragraph template; ``user_message(record)`` is the JSON of the record without ids and
image name, keypoints as integers and invisible joints as [-1, -1]; ``DECODING`` /
``LLAMA2_DECODING`` are the paper's sampling settings. The LLM is a pluggable
``Client = (system, user, decoding) -> text``, so tests and new back ends plug in without
network access; ``openai_client`` and ``llama2_client`` import their SDKs only when called
(optional packages).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Callable, Mapping

import numpy as np

from focusclip_tools.describe.keypoints import person_arrays

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



def _person_message(person: Mapping[str, Any]) -> dict[str, Any]:
  kpts, vis = person_arrays(person)
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


def json_default(o):
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
  return json.dumps(msg, ensure_ascii=False, default=json_default)


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
    import openai  # pylint: disable=g-import-not-at-top  (optional SDK, only for this client)
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
    from huggingface_hub import InferenceClient  # pylint: disable=g-import-not-at-top  (optional)
  except ImportError as e:
    raise ImportError("llama2_client needs huggingface_hub: pip install huggingface_hub") from e
  api = InferenceClient(model=model, token=token)

  def client(system: str, user: str, decoding: dict) -> str:
    return api.text_generation(llama2_prompt(system, user), **llama2_decoding(decoding))
  return client
