"""The offline demo dataset: determinism, record format, pose geometry, and the real readers."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from focusclip_tools.demo_data import activities as acts
from focusclip_tools.demo_data import skeleton
from focusclip_tools.demo_data import writer
from input_pipeline import mpii_joints as mj

W, H = 160, 120
NUM_TRAIN, NUM_VAL, NUM_EVAL = 16, 8, 20
RECORD_FIELDS = {"image", "video_id", "video_frame", "activity", "activity_id", "count",
                 "people", "istrain", "description"}
# MPII's person fields plus "age" (the builder ignores it; the describer names the person).
PERSON_FIELDS = {"id", "center", "scale", "kpts", "kpts_vis", "age"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("demo"))
  summary = writer.write_demo(root, num_train=NUM_TRAIN, num_val=NUM_VAL, num_eval=NUM_EVAL,
                          image_size=(W, H), seed=0)
  return root, summary


def _load(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _tree(root):
  """{relative path: bytes} of every file but demo_info.json (which names the root)."""
  out = {}
  for d, _, files in os.walk(root):
    for name in files:
      path = os.path.join(d, name)
      rel = os.path.relpath(path, root)
      if rel != "demo_info.json":
        with open(path, "rb") as f:
          out[rel] = f.read()
  return out


# ----------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
  kw = dict(num_train=5, num_val=2, num_eval=10, image_size=(64, 48))
  a, b, c = (str(tmp_path / n) for n in "abc")
  writer.write_demo(a, seed=3, **kw)
  writer.write_demo(b, seed=3, **kw)
  writer.write_demo(c, seed=4, **kw)
  ta, tb, tc = _tree(a), _tree(b), _tree(c)
  assert ta == tb
  assert any(name.endswith(".jpg") for name in ta)
  assert ta["mpii/descriptions/gpt-4-0613/train.json"] != tc[
      "mpii/descriptions/gpt-4-0613/train.json"]
  assert ta["mpii/images/000000001.jpg"] != tc["mpii/images/000000001.jpg"]


# ----------------------------------------------------------------------- records


def test_layout_and_summary(demo):
  root, s = demo
  assert s["counts"]["train"] == NUM_TRAIN and s["counts"]["validation"] == NUM_VAL
  assert s["counts"]["stanford40"] == NUM_EVAL and s["counts"]["lagenda"] == NUM_EVAL
  assert [a["key"] for a in s["activities"]] == [a.key for a in acts.ACTIVITIES]
  assert len(acts.ACTIVITIES) == 10
  assert len({a.activity for a in acts.ACTIVITIES}) == len(
      {a.activity_id for a in acts.ACTIVITIES})
  for a in acts.ACTIVITIES:
    category, name = a.activity.split(", ", 1)
    assert category and name
  for rel in ("mpii/descriptions/gpt-4-0613/train.json",
              "mpii/descriptions/gpt-3.5-turbo-0613/val.json",
              "zeroshot/stanford40/ImageSplits/actions.txt",
              "zeroshot/stanford40/ImageSplits/test.txt",
              "zeroshot/lagenda/lagenda_annotation.csv"):
    assert os.path.isfile(os.path.join(root, rel)), rel


def test_records_have_the_real_format(demo):
  root, s = demo
  train = _load(s["paths"]["train_json"])
  val = _load(s["paths"]["val_json"])
  assert len(train) == NUM_TRAIN and len(val) == NUM_VAL
  names = [r["image"] for r in train + val]
  assert len(set(names)) == len(names)
  assert names[0] == "000000001.jpg"
  activities = {a.activity: a for a in acts.ACTIVITIES}
  for records, istrain in ((train, True), (val, False)):
    for r in records:
      assert set(r) == RECORD_FIELDS
      assert r["istrain"] is istrain
      assert r["activity"] in activities
      assert r["activity_id"] == activities[r["activity"]].activity_id
      if r["count"] == 1:
        noun = "child" if r["people"][0]["age"] <= skeleton.KID_AGES[1] else "adult"
        assert r["description"].startswith(f"There is one {noun} in the image")
      else:
        assert r["description"].startswith("There are ")
      assert 1 <= r["count"] <= 3 and r["count"] == len(r["people"])
      with Image.open(os.path.join(root, "mpii", "images", r["image"])) as im:
        assert im.format == "JPEG" and im.size == (W, H)
      for j, p in enumerate(r["people"]):
        assert set(p) == PERSON_FIELDS and p["id"] == j
        k = np.asarray(p["kpts"], np.float64)
        v = np.asarray(p["kpts_vis"])
        assert k.shape == (16, 2) and v.shape == (16,)
        assert set(v.tolist()) <= {0, 1} and v.sum() >= 12
        kv = k[v == 1]
        assert np.all(kv >= 0) and np.all(kv[:, 0] <= W - 1) and np.all(kv[:, 1] <= H - 1)
        assert len(p["center"]) == 2 and 0 <= p["center"][0] <= W and 0 <= p["center"][1] <= H
        assert 0.05 < p["scale"] < H / 200 * 1.01  # standing height = scale * 200 <= H


# ----------------------------------------------------------------------- pose geometry


def _length(k, a, b):
  return float(np.linalg.norm(k[a] - k[b]))


def _check_pose(key, k):
  """Asserts the defining geometry of activity ``key`` for keypoints k [16, 2] (y down)."""
  y = k[:, 1]
  thigh = (_length(k, mj.R_HIP, mj.R_KNEE) + _length(k, mj.L_HIP, mj.L_KNEE)) / 2
  leg = thigh + (_length(k, mj.R_KNEE, mj.R_ANKLE) + _length(k, mj.L_KNEE, mj.L_ANKLE)) / 2
  spine = k[mj.THORAX] - k[mj.PELVIS]
  upright = spine[1] < 0 and abs(spine[0]) < 0.3 * abs(spine[1])
  wrists_above_shoulders = [y[mj.R_WRIST] < y[mj.R_SHOULDER], y[mj.L_WRIST] < y[mj.L_SHOULDER]]
  hips_w = abs(k[mj.R_HIP, 0] - k[mj.L_HIP, 0])
  if key in ("standing", "raising_both_arms", "waving", "squatting", "jumping"):
    # Facing the camera: the person's left side is at the viewer's right.
    assert k[mj.L_SHOULDER, 0] > k[mj.R_SHOULDER, 0] and k[mj.L_HIP, 0] > k[mj.R_HIP, 0]
  if key == "standing":
    assert upright and not any(wrists_above_shoulders)
    assert max(y[mj.R_HIP], y[mj.L_HIP]) < min(y[mj.R_KNEE], y[mj.L_KNEE])
    assert abs(y[mj.R_HIP] - y[mj.R_ANKLE]) > 0.9 * leg
  elif key == "raising_both_arms":
    assert y[mj.R_WRIST] < y[mj.HEAD_TOP] and y[mj.L_WRIST] < y[mj.HEAD_TOP]
  elif key == "waving":
    assert sum(wrists_above_shoulders) == 1
    up = mj.R_WRIST if wrists_above_shoulders[0] else mj.L_WRIST
    elbow = mj.R_ELBOW if up == mj.R_WRIST else mj.L_ELBOW
    assert y[up] < y[elbow]  # forearm raised, elbow bent
  elif key == "squatting":
    assert upright
    for hip, knee in ((mj.R_HIP, mj.R_KNEE), (mj.L_HIP, mj.L_KNEE)):
      assert abs(y[hip] - y[knee]) < 0.45 * thigh  # hips at knee height
    assert abs(k[mj.R_KNEE, 0] - k[mj.L_KNEE, 0]) > 2 * hips_w  # knees apart
  elif key == "sitting":
    assert upright
    for hip, knee, ankle in ((mj.R_HIP, mj.R_KNEE, mj.R_ANKLE), (mj.L_HIP, mj.L_KNEE,
                                                                 mj.L_ANKLE)):
      assert abs(y[hip] - y[knee]) < 0.3 * thigh  # thighs horizontal
      assert y[ankle] - y[knee] > 0.8 * _length(k, knee, ankle)  # shins down
  elif key == "running":
    assert spine[1] < 0 and abs(spine[0]) > 0.1 * abs(spine[1])  # leaning forward
    assert abs(k[mj.R_KNEE, 0] - k[mj.L_KNEE, 0]) > 0.5 * thigh  # stride
  elif key == "lying_down":
    assert abs(spine[1]) < 0.5 * abs(spine[0])  # torso horizontal
    assert abs(y[mj.HEAD_TOP] - y[mj.PELVIS]) < 0.5 * abs(k[mj.HEAD_TOP, 0] - k[mj.PELVIS, 0])
  elif key == "jumping":
    assert all(wrists_above_shoulders)
    assert abs(k[mj.R_ANKLE, 0] - k[mj.L_ANKLE, 0]) > 2 * hips_w  # legs spread
    assert abs(k[mj.R_WRIST, 0] - k[mj.L_WRIST, 0]) > abs(k[mj.R_SHOULDER, 0] -
                                                          k[mj.L_SHOULDER, 0])
  elif key == "kicking":
    assert abs(y[mj.R_ANKLE] - y[mj.L_ANKLE]) > 0.35 * leg  # one leg raised
    assert spine[1] < 0
  elif key == "touching_toes":
    assert y[mj.THORAX] > y[mj.PELVIS] and y[mj.HEAD_TOP] > y[mj.PELVIS]  # folded forward
    assert y[mj.R_WRIST] > y[mj.R_KNEE] and y[mj.L_WRIST] > y[mj.L_KNEE]  # hands low
  else:
    raise AssertionError(key)


@pytest.mark.parametrize("key", [a.key for a in acts.ACTIVITIES])
def test_pose_families_have_their_geometry(key):
  activity = acts.ACTIVITY_BY_KEY[key]
  rng = np.random.default_rng(123)
  for i in range(150):
    age = [6, 10, 30, 55][i % 4]
    k = skeleton.forward_kinematics(skeleton.body_for_age(age), activity.sampler(rng))
    _check_pose(key, k)


def test_rendered_records_have_their_geometry(demo):
  _, s = demo
  by_activity = {a.activity: a.key for a in acts.ACTIVITIES}
  seen = set()
  for r in _load(s["paths"]["train_json"]) + _load(s["paths"]["val_json"]):
    seen.add(r["activity"])
    for p in r["people"]:
      _check_pose(by_activity[r["activity"]], np.asarray(p["kpts"]))
  assert len(seen) == len(acts.ACTIVITIES)


def test_children_have_larger_heads_and_are_shorter():
  kid, adult = skeleton.body_for_age(6), skeleton.body_for_age(35)
  assert kid.head > 1.3 * adult.head and kid.upper_leg < adult.upper_leg
  assert kid.height < 0.75 * adult.height
  for b in (kid, adult):
    total = b.upper_leg + b.lower_leg + b.torso + b.neck + b.head
    assert abs(total - 1) < 1e-9


# ----------------------------------------------------------------------- zero-shot sets


def test_stanford40_layout_loads_with_the_existing_reader(demo):
  from input_pipeline import eval_datasets  # pylint: disable=g-import-not-at-top
  root, _ = demo
  ds = eval_datasets.load("stanford40", os.path.join(root, "zeroshot"))
  assert ds.classnames == sorted(a.key for a in acts.ACTIVITIES)
  assert len(ds.examples) == NUM_EVAL
  assert ["a photo of a person raising both arms"] in ds.prompts
  assert ["a photo of a person lying down"] in ds.prompts
  for ex in ds.examples:
    name = os.path.basename(ex.source)
    assert name.startswith(ds.classnames[ex.label] + "_")
  assert np.bincount(ds.labels(), minlength=10).min() >= NUM_EVAL // 10
  img = ds.load_image(ds.examples[0])
  assert img.shape == (H, W, 3)


def test_lagenda_layout_loads_with_the_existing_reader(demo):
  from input_pipeline import eval_datasets  # pylint: disable=g-import-not-at-top
  root, _ = demo
  folder = os.path.join(root, "zeroshot", "lagenda")
  with open(os.path.join(folder, "lagenda_annotation.csv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == NUM_EVAL
  assert not any(v.strip() == "-1" for r in rows for v in r.values())
  ages = [float(r["age"]) for r in rows]
  assert all(5 <= a <= 11 or 25 <= a <= 60 for a in ages)
  body = eval_datasets.load("lagenda_body", os.path.join(root, "zeroshot"))
  face = eval_datasets.load("lagenda_face", os.path.join(root, "zeroshot"))
  assert body.classnames == ["kid", "teenager", "adult"]
  want = [0 if a <= 12 else 2 for a in ages]
  assert body.labels().tolist() == want and face.labels().tolist() == want
  assert want.count(0) == want.count(2) == NUM_EVAL // 2
  for ds in (body, face):
    for ex in ds.examples[:6]:
      x0, y0, x1, y1 = ex.box
      assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
      crop = ds.load_image(ex)
      assert crop.shape[0] >= 4 and crop.shape[1] >= 4
  # The face box is inside the person box.
  for bex, fex in zip(body.examples, face.examples):
    assert bex.box[0] <= fex.box[0] + 0.5 and fex.box[2] <= bex.box[2] + 0.5
    assert bex.box[1] <= fex.box[1] + 0.5 and fex.box[3] <= bex.box[3] + 0.5


# ----------------------------------------------------------------------- the TFDS builder


def test_the_real_builder_prepares_the_demo(demo, tmp_path, minilm_dir):
  from input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  root, s = demo
  builder = prepare.prepare(s["paths"]["manual_dir"], "gpt-4-224px", str(tmp_path / "tfds"),
                            tokenizer=minilm_dir)
  assert builder.info.splits["train"].num_examples == NUM_TRAIN
  assert builder.info.splits["validation"].num_examples == NUM_VAL
  skipped = builder.info.metadata["skipped"]
  assert sum(skipped["train"].values()) == 0 and sum(skipped["validation"].values()) == 0
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  ex = next(iter(tfds.as_numpy(builder.as_dataset(split="train").take(1))))
  assert ex["image"].shape == (224, 224, 3)
  assert ex["heatmap"].max() > 0 and ex["keypoints"].shape[1:] == (16, 2)
  assert root in s["paths"]["manual_dir"]
