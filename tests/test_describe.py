"""Pose descriptions: the geometry describer, the paper's LLM prompt and the filling command."""

import json
import random

import numpy as np
import pytest

from focusclip_tools.describe import cli
from focusclip_tools.describe import geometry
from focusclip_tools.describe import llm_prompt as llm
from focusclip_tools.describe import words
from input_pipeline import mpii_joints as mj
from tests import mpii_fixture

CANNED = "There is one person in the image who is testing. The person is standing upright."
CALLS = []  # (system, user, decoding) of every fake_client call


def fake_client_factory():
  """--client=tests.test_describe:fake_client_factory: records calls, returns CANNED."""

  def client(system, user, decoding):
    CALLS.append((system, user, decoding))
    return "  " + CANNED + "\n"
  return client


def failing_client_factory():
  def client(system, user, decoding):
    del system, decoding
    if "bad" in user:
      raise ConnectionError("rate limited")
    return CANNED
  return client


# ------------------------------------------------------------------------ hand-made poses
# Image coordinates, y DOWN. The person faces the camera, so their RIGHT side (joints 0-2,
# 10-12) is on the viewer's LEFT (smaller x) and their LEFT side on the viewer's right.


def standing():
  k = {
      mj.R_ANKLE: (90, 300), mj.R_KNEE: (90, 240), mj.R_HIP: (90, 180),
      mj.L_HIP: (110, 180), mj.L_KNEE: (110, 240), mj.L_ANKLE: (110, 300),
      mj.PELVIS: (100, 180), mj.THORAX: (100, 100), mj.UPPER_NECK: (100, 90),
      mj.HEAD_TOP: (100, 60),
      mj.R_SHOULDER: (80, 100), mj.R_ELBOW: (78, 140), mj.R_WRIST: (76, 180),
      mj.L_SHOULDER: (120, 100), mj.L_ELBOW: (122, 140), mj.L_WRIST: (124, 180),
  }
  return [list(k[j]) for j in range(16)]


def with_joints(kpts, **joints):
  kpts = [list(p) for p in kpts]
  for name, xy in joints.items():
    kpts[getattr(mj, name.upper())] = list(xy)
  return kpts


def side_view(**joints):
  """A person seen from the side (shoulders and hips nearly on top of each other)."""
  base = {"thorax": (100, 100), "r_shoulder": (100, 100), "l_shoulder": (103, 100),
          "pelvis": (100, 180), "r_hip": (99, 180), "l_hip": (101, 180),
          "upper_neck": (101, 90), "head_top": (103, 60),
          "r_elbow": (110, 140), "r_wrist": (140, 150), "l_elbow": (112, 140),
          "l_wrist": (142, 150)}
  base.update(joints)
  return with_joints(standing(), **base)


ALL = [1] * 16
UPPER_BODY = (mj.THORAX, mj.UPPER_NECK, mj.HEAD_TOP, mj.R_WRIST, mj.R_ELBOW,
              mj.R_SHOULDER, mj.L_SHOULDER, mj.L_ELBOW, mj.L_WRIST)


def rotate_upper_body(kpts, degrees):
  """Tilts everything above the pelvis about it; positive = top moves to the viewer's right."""
  t = np.radians(degrees)
  px, py = kpts[mj.PELVIS]
  out = [list(p) for p in kpts]
  for j in UPPER_BODY:
    dx, dy = kpts[j][0] - px, kpts[j][1] - py
    out[j] = [px + dx * np.cos(t) - dy * np.sin(t), py + dx * np.sin(t) + dy * np.cos(t)]
  return out


def one(kpts, vis=None, activity="sports, curling"):
  return geometry.describe([kpts], [ALL if vis is None else vis], activity)


def sentence(text, subject):
  """The sentence starting with ``subject`` ("" when absent)."""
  for s in text.split(". "):
    if s.startswith(subject):
      return s
  return ""


LEFT_ARM_UP = dict(l_elbow=(130, 70), l_wrist=(135, 35))   # left wrist far above left shoulder
RIGHT_ARM_UP = dict(r_elbow=(70, 70), r_wrist=(65, 35))


def test_left_arm_raised_right_arm_lowered():
  kpts = with_joints(standing(), **LEFT_ARM_UP)
  assert kpts[mj.L_WRIST][1] < kpts[mj.L_SHOULDER][1]  # y down: smaller is higher
  text = one(kpts)
  assert "Their left arm is raised" in text
  assert "Their right arm is lowered" in text
  assert "right arm is raised" not in text and "left arm is lowered" not in text
  # Template order: legs, then left arm, right arm, torso, head.
  idx = [text.index(f"Their {p}") for p in ("left leg", "right leg", "left arm", "right arm",
                                            "torso", "head")]
  assert idx == sorted(idx)
  assert "facing the camera" in text


def test_right_arm_raised_mirror():
  text = one(with_joints(standing(), **RIGHT_ARM_UP))
  assert "Their right arm is raised" in text
  assert "Their left arm is lowered" in text
  assert "left arm is raised" not in text


def test_sides_follow_the_person_not_the_image():
  # Seen from the back, the person's left side is on the viewer's left: mirror every x about
  # the body axis (x -> 200 - x) but keep joint labels; the raised arm is still their left.
  kpts = [[200 - x, y] for x, y in with_joints(standing(), **LEFT_ARM_UP)]
  text = one(kpts)
  assert "Their left arm is raised" in text and "Their right arm is lowered" in text
  assert "turned away from the camera" in text


def test_straight_vs_bent_legs():
  straight = one(standing())
  assert sentence(straight, "Their left leg").startswith("Their left leg is straight")
  assert sentence(straight, "Their right leg").startswith("Their right leg is straight")
  assert "standing upright" in straight
  # Knees pushed out: interior knee angle ~127 deg on both legs.
  bent = one(with_joints(standing(), r_knee=(60, 240), l_knee=(140, 240)))
  assert sentence(bent, "Their left leg").startswith("Their left leg is bent at the knee")
  assert sentence(bent, "Their right leg").startswith("Their right leg is bent at the knee")
  assert "standing with bent knees" in bent
  # Only the right knee bent.
  mixed = one(with_joints(standing(), r_knee=(60, 240)))
  assert "Their left leg is straight" in mixed and "Their right leg is bent" in mixed


def test_bent_vs_straight_arm():
  text = one(with_joints(standing(), l_elbow=(125, 140), l_wrist=(100, 130)))
  assert "Their left arm" in text and "bent at the elbow" in sentence(text, "Their left arm")
  assert "bent" not in sentence(text, "Their right arm")


def test_squatting_sitting_standing_lying():
  squat = side_view(r_hip=(94, 230), l_hip=(96, 230), pelvis=(95, 230), thorax=(100, 150),
                    r_shoulder=(100, 150), l_shoulder=(103, 150), upper_neck=(102, 140),
                    head_top=(106, 110), r_knee=(150, 215), l_knee=(152, 215),
                    r_ankle=(110, 265), l_ankle=(112, 265))
  assert "The person is crouching" in one(squat)
  sit = side_view(r_knee=(165, 182), l_knee=(167, 182), r_ankle=(165, 250), l_ankle=(167, 250))
  sit_text = one(sit)
  assert "The person is sitting" in sit_text
  assert "Their left leg is bent at the knee (about 90 degrees)" in sit_text
  stand = side_view(r_knee=(100, 240), l_knee=(101, 240), r_ankle=(100, 300),
                    l_ankle=(101, 300))
  assert "The person is standing upright" in one(stand)
  lying = with_joints(
      standing(), thorax=(100, 200), r_shoulder=(100, 193), l_shoulder=(100, 207),
      pelvis=(180, 200), r_hip=(180, 195), l_hip=(180, 205), r_knee=(240, 199),
      l_knee=(240, 203), r_ankle=(300, 199), l_ankle=(300, 204), upper_neck=(90, 200),
      head_top=(60, 200), r_elbow=(130, 190), r_wrist=(160, 190), l_elbow=(130, 210),
      l_wrist=(160, 210))
  lying_text = one(lying)
  assert "The person is lying down" in lying_text
  assert "Their torso is roughly horizontal" in lying_text
  assert "standing" not in lying_text


def test_bending_forward_and_leaning():
  bent_over = side_view(thorax=(100, 150), r_shoulder=(100, 150), l_shoulder=(102, 150),
                        pelvis=(170, 160), r_hip=(170, 160), l_hip=(171, 160),
                        r_knee=(172, 230), l_knee=(173, 230), r_ankle=(174, 300),
                        l_ankle=(175, 300), upper_neck=(90, 160), head_top=(70, 175),
                        r_elbow=(98, 190), r_wrist=(95, 230), l_elbow=(99, 190),
                        l_wrist=(96, 230))
  assert "bending forward" in one(bent_over)
  # Frontal torso leaning towards the viewer's right = the person's own left.
  lean = rotate_upper_body(standing(), 30)
  assert lean[mj.THORAX][0] > lean[mj.PELVIS][0]
  lean_text = one(lean)
  assert "Their torso is leaning to their left (about 30 degrees" in lean_text
  assert "leaning to their left" in sentence(lean_text, "The person is standing")
  assert "Their torso is leaning to their right" in one(rotate_upper_body(standing(), -30))


def test_invisible_joints_are_omitted():
  vis = list(ALL)
  kpts = standing()
  for j in (mj.R_SHOULDER, mj.R_ELBOW, mj.R_WRIST):
    vis[j] = 0
  text = one(kpts, vis)
  assert "right arm" not in text
  assert "Their left arm" in text
  # MPII style: -1 coordinates mark missing joints even when the flag says visible.
  kpts2 = with_joints(standing(), l_knee=(-1, -1), l_ankle=(-1, -1), l_hip=(-1, -1))
  text2 = one(kpts2)
  assert "left leg" not in text2 and "Their right leg" in text2
  # Nothing visible at all: no limb sentences, still a valid paragraph.
  empty = one([[-1, -1]] * 16, [0] * 16)
  assert empty.startswith("There is one person") and "Their" not in empty


def test_real_mpii_style_records():
  rng = np.random.default_rng(0)
  people = [mpii_fixture._person(rng, visible=12), mpii_fixture._person(rng)]  # pylint: disable=protected-access
  rec = {"image": "000000001.jpg", "video_id": 1, "video_frame": 2,
         "activity": "bicycling, mountain", "activity_id": 3, "count": 2, "people": people,
         "istrain": True}
  text = geometry.describe_record(rec, image_size=(64, 96))
  assert text.startswith("There are two people in the image who are bicycling (mountain).")
  assert "The person on the left of the image" in text
  assert "The person on the right of the image" in text
  assert "twelve of their sixteen joints visible" in text


def test_deterministic_and_dict_order_irrelevant():
  rec = {"image": "a.jpg", "activity": "sports, curling", "count": 1, "istrain": True,
         "people": [{"id": 3, "center": [100, 180], "scale": 1.5,
                     "kpts": with_joints(standing(), **LEFT_ARM_UP), "kpts_vis": ALL}]}
  keys = list(rec)
  random.Random(0).shuffle(keys)
  shuffled = {k: rec[k] for k in keys}
  shuffled["people"] = [dict(reversed(list(rec["people"][0].items())))]
  a, b = geometry.describe_record(rec), geometry.describe_record(rec)
  assert a == b == geometry.describe_record(shuffled)
  assert llm.user_message(rec) == llm.user_message(shuffled)


def test_person_locations_and_depth():
  a, b, c = standing(), with_joints(standing(), **LEFT_ARM_UP), standing()
  text = geometry.describe([a, b, c], [ALL] * 3, "occupation, washing windows",
                       centers=[[300, 200], [100, 200], [500, 200]], scales=[1, 2, 1])
  assert text.startswith("There are three people in the image who are washing windows.")
  assert "The person on the left of the image, in the foreground, is standing" in text
  assert "The person in the middle, in the background," in text
  # People are described left to right; the one raising the left arm is on the left.
  assert text.index("on the left of the image") < text.index("in the middle") < text.index(
      "on the right of the image")
  first = text[text.index("on the left of the image"):text.index("in the middle")]
  assert "Their left arm is raised" in first


@pytest.mark.parametrize("n,expected", [
    (1, "There is one person in the image who is curling."),
    (2, "There are two people in the image who are curling."),
    (3, "There are three people in the image who are curling."),
])
def test_opening_sentence(n, expected):
  text = geometry.describe([standing()] * n, [ALL] * n, "sports, curling",
                       centers=[[100 + 200 * i, 200] for i in range(n)])
  assert text.startswith(expected + " ")
  assert words.opening_sentence(n, "sports, curling") == expected


def test_count_words():
  assert [words.count_words(n) for n in (1, 2, 3, 12, 20, 21, 45)] == [
      "one", "two", "three", "twelve", "twenty", "twenty-one", "forty-five"]
  assert words.count_words(150) == "150"


@pytest.mark.parametrize("activity,phrase", [
    ("sports, curling", "curling"),
    ("occupation, washing windows", "washing windows"),
    ("bicycling, mountain", "bicycling (mountain)"),
    ("winter activities, skiing, downhill", "skiing (downhill)"),
    ("sports, softball, general", "playing softball"),
    ("music playing, guitar, classical, folk (sitting)",
     "playing guitar (classical, folk sitting)"),
    ("conditioning exercise, circuit training", "engaged in circuit training"),
    ("inactivity quiet/light, lying quietly and watching television",
     "lying quietly and watching television"),
    ("curling", "curling"),
    ("", "engaged in an activity"),
])
def test_activity_phrase(activity, phrase):
  assert words.activity_phrase(activity) == phrase


# ------------------------------------------------------------------------ LLM prompting


def record(**overrides):
  kpts = with_joints(standing(), **LEFT_ARM_UP)
  kpts = [[x + 0.4, y + 0.6] for x, y in kpts]
  kpts[mj.R_WRIST] = [777.3, 888.8]   # annotated but flagged invisible
  kpts[mj.R_ANKLE] = [-1, -1]          # MPII missing joint
  vis = list(ALL)
  vis[mj.R_WRIST] = 0
  vis[mj.R_ANKLE] = 0
  rec = {"image": "000000042.jpg", "video_id": 7, "video_frame": 9, "activity_id": 5,
         "activity": "sports, curling", "count": 1, "istrain": True,
         "people": [{"id": 1, "center": [100.6, 180.2], "scale": 1.234567,
                     "kpts": kpts, "kpts_vis": vis}]}
  rec.update(overrides)
  return rec


def test_user_message():
  rec = record(description="old text")
  msg = json.loads(llm.user_message(rec))
  for field in ("video_id", "video_frame", "activity_id", "image", "description"):
    assert field not in msg
  assert msg["activity"] == "sports, curling" and msg["count"] == 1 and msg["istrain"] is True
  person = msg["people"][0]
  assert set(person) == {"id", "center", "scale", "kpts"}
  assert person["id"] == 1 and person["center"] == [101, 180]
  assert len(person["kpts"]) == 16
  assert all(isinstance(c, int) for xy in person["kpts"] for c in xy)
  assert person["kpts"][mj.R_WRIST] == [-1, -1]
  assert person["kpts"][mj.R_ANKLE] == [-1, -1]
  assert person["kpts"][mj.L_WRIST] == [135, 36]
  text = llm.user_message(rec)
  assert "777" not in text and "888" not in text  # invisible coordinates never leak
  assert rec["people"][0]["kpts"][mj.R_WRIST] == [777.3, 888.8]  # input untouched
  numbers = [c for xy in person["kpts"] for c in xy]
  assert all(c >= 0 or c == -1 for c in numbers)


def test_system_prompt_and_decoding():
  prompt = llm.SYSTEM_PROMPT
  names = [mj.joint_name(j) for j in range(mj.NUM_JOINTS)]
  positions = [prompt.index(f"{i} {name}") for i, name in enumerate(names)]
  assert positions == sorted(positions)
  assert "[-1, -1]" in prompt and "downwards" in prompt and "gender-neutral" in prompt
  assert "left leg, right leg, left arm, right arm, torso and head" in prompt
  assert llm.DECODING == {"temperature": 0.5, "max_tokens": 512, "frequency_penalty": 1.0}
  assert llm.LLAMA2_DECODING == {"temperature": 0.5, "max_new_tokens": 512,
                                  "repetition_penalty": 1.0}
  assert llm.llama2_decoding(llm.DECODING) == llm.LLAMA2_DECODING
  p = llm.llama2_prompt("SYS", "USER")
  assert p.startswith("[INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER") and p.endswith("[/INST]")


def test_describe_with_llm_passes_prompt_message_and_decoding():
  CALLS.clear()
  rec = record()
  out = llm.describe_with_llm(rec, fake_client_factory())
  assert out == CANNED
  assert len(CALLS) == 1
  system, user, decoding = CALLS[0]
  assert system == llm.SYSTEM_PROMPT
  assert user == llm.user_message(rec)
  assert decoding == llm.DECODING and decoding is not llm.DECODING


def test_describe_with_llm_retries_then_raises():
  tries = []

  def flaky(system, user, decoding):
    del system, user, decoding
    tries.append(1)
    if len(tries) < 3:
      raise TimeoutError("try again")
    return "fine"
  assert llm.describe_with_llm(record(), flaky) == "fine" and len(tries) == 3

  tries.clear()

  def broken(system, user, decoding):
    del system, user, decoding
    tries.append(1)
    raise ConnectionError("no network")
  with pytest.raises(llm.DescriptionError, match="after 3 tries.*ConnectionError"):
    llm.describe_with_llm(record(), broken)
  assert len(tries) == 3

  with pytest.raises(llm.DescriptionError):  # empty answers count as failures too
    llm.describe_with_llm(record(), lambda s, u, d: "   ")


def test_openai_client_is_lazy():
  try:
    import openai  # pylint: disable=g-import-not-at-top,unused-import
    pytest.skip("openai is installed")
  except ImportError:
    pass
  with pytest.raises(ImportError, match="pip install openai"):
    llm.openai_client()


def test_fill_descriptions():
  recs = [record(image="a.jpg"), record(image="b.jpg", description="kept"),
          record(image="c.jpg", description=""), record(image="bad.jpg")]

  def fn(rec):
    if rec["image"] == "bad.jpg":
      raise RuntimeError("boom")
    return f"described {rec['image']}"
  out, stats = cli.fill_descriptions(recs, fn)
  assert [r.get("description") for r in out] == ["described a.jpg", "kept", "described c.jpg",
                                                 None]
  assert (stats["filled"], stats["skipped"], stats["failed"], stats["pending"]) == (2, 1, 1, 0)
  assert stats["failures"][0]["image"] == "bad.jpg" and "boom" in stats["failures"][0]["error"]
  assert "description" not in recs[0]  # inputs are not modified
  out, stats = cli.fill_descriptions(recs, fn, overwrite=True)
  assert out[1]["description"] == "described b.jpg" and stats["skipped"] == 0
  out, stats = cli.fill_descriptions(recs, fn, limit=1)
  assert (stats["filled"], stats["pending"]) == (1, 2)
  out, stats = cli.fill_descriptions(recs, geometry.describe_record)
  assert out[0]["description"].startswith("There is one person in the image who is curling.")


def test_cli_with_client(tmp_path, capsys):
  recs = [record(image="a.jpg"), record(image="b.jpg", description="kept"),
          record(image="c.jpg")]
  src, dst = tmp_path / "in.json", tmp_path / "out.json"
  src.write_text(json.dumps(recs))
  CALLS.clear()
  rc = cli.main([f"--annotations={src}", f"--out={dst}",
                  "--client=tests.test_describe:fake_client_factory"])
  assert rc == 0
  out = json.loads(dst.read_text())
  assert [r["description"] for r in out] == [CANNED, "kept", CANNED]
  assert len(CALLS) == 2 and CALLS[0][0] == llm.SYSTEM_PROMPT
  assert "filled 2" in capsys.readouterr().out
  # Overwrite + limit: only the first record is redone.
  rc = cli.main([f"--annotations={dst}", f"--out={dst}", "--geometry", "--overwrite",
                  "--limit", "1"])
  out2 = json.loads(dst.read_text())
  assert rc == 0 and out2[0]["description"].startswith("There is one person")
  assert [r["description"] for r in out2[1:]] == ["kept", CANNED]


def test_cli_failures_are_reported_and_work_is_kept(tmp_path, capsys):
  recs = [record(image="a.jpg"), record(image="bad.jpg", activity="bad activity"),
          record(image="c.jpg")]
  src, dst = tmp_path / "in.json", tmp_path / "out.json"
  src.write_text(json.dumps(recs))
  rc = cli.main([f"--annotations={src}", f"--out={dst}", "--backoff=0", "--save_every=1",
                  "--client=tests.test_describe:failing_client_factory"])
  assert rc == 1
  out = json.loads(dst.read_text())
  assert out[0]["description"] == CANNED and out[2]["description"] == CANNED
  assert "description" not in out[1]
  printed = capsys.readouterr().out
  assert "filled 2" in printed and "failed 1" in printed and "bad.jpg" in printed


@pytest.mark.parametrize("age,noun", [(4, "child"), (12.9, "child"), (13, "teenager"),
                                      (17, "teenager"), (18, "adult"), (61, "adult"),
                                      (None, "person"), ("?", "person"), (-1, "person")])
def test_age_noun(age, noun):
  assert words.age_noun(age) == noun


def test_known_ages_name_children_and_adults():
  one = geometry.describe([standing()], [ALL], "sports, curling", ages=[7])
  assert one.startswith("There is one child in the image who is curling. ")
  assert "The child is standing" in one
  two = geometry.describe([standing(), standing()], [ALL, ALL], "sports, curling",
                      centers=[[400, 200], [100, 200]], ages=[30, 8])
  assert two.startswith("There are two people in the image who are curling. ")
  # Left to right: the child (x=100) first, then the adult.
  assert two.index("The child on the left of the image") < two.index(
      "The adult on the right of the image")
  # Records: MPII has no ages (unchanged text); the demo's "age" field is used.
  rec = {"activity": "sports, curling", "people": [
      {"center": [100, 200], "scale": 1.0, "kpts": standing(), "kpts_vis": ALL}]}
  assert "person" in geometry.describe_record(rec) and "child" not in geometry.describe_record(rec)
  rec["people"][0]["age"] = 9
  assert geometry.describe_record(rec).startswith("There is one child in the image")
  with pytest.raises(ValueError, match="ages"):
    geometry.describe([standing()], [ALL], "sports, curling", ages=[7, 30])
