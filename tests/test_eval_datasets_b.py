"""Zero-shot readers EMOTIC, FER2013, FER+, CUB (+ bird heatmaps) on tiny fake native layouts."""

import csv
import json
import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from input_pipeline import eval_datasets
from input_pipeline import heatmaps as hm
from input_pipeline.eval_datasets import cub
from input_pipeline.eval_datasets import emotic
from input_pipeline.eval_datasets import fer

# Written out again (docs/method.md §6.1) so that the modules' tables are checked, not trusted.
EMOTIC_CATEGORIES = [
    "Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence", "Disapproval",
    "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem",
    "Excitement", "Fatigue", "Fear", "Happiness", "Pain", "Peace", "Pleasure", "Sadness",
    "Sensitivity", "Suffering", "Surprise", "Sympathy", "Yearning"]


def write_image(path, width, height, mode="RGB", value=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if value is None:
    rng = np.random.default_rng(abs(hash(path)) % 2**32)
    shape = (height, width) if mode == "L" else (height, width, 3)
    value = rng.integers(0, 256, shape, dtype=np.uint8)
  Image.fromarray(value, mode=None).save(path)


# ------------------------------------------------------------------------------------ EMOTIC


def struct_array(records, fields):
  """A MATLAB 1 x N struct array as savemat writes it (an object-field record array)."""
  arr = np.zeros((1, len(records)), dtype=[(f, object) for f in fields])
  for i, r in enumerate(records):
    for f in fields:
      arr[0, i][f] = r[f]
  return arr


def cell(strings):
  c = np.empty((1, len(strings)), dtype=object)
  for i, s in enumerate(strings):
    c[0, i] = s
  return c


def continuous():
  return struct_array([{"valence": 5.0, "arousal": 6.0, "dominance": 7.0}],
                      ["valence", "arousal", "dominance"])


def train_person(box, cats, age, gender="Female"):
  return {"body_bbox": np.array([box], np.float64),
          "annotations_categories": struct_array([{"categories": cell(cats)}], ["categories"]),
          "annotations_continuous": continuous(), "gender": gender, "age": age}


def val_person(box, annotators, combined, age, gender="Male"):
  return {"body_bbox": np.array([box], np.float64),
          "annotations_categories": struct_array([{"categories": cell(a)} for a in annotators],
                                                 ["categories"]),
          "combined_categories": cell(combined),
          "annotations_continuous": struct_array(
              [{"valence": 5.0, "arousal": 6.0, "dominance": 7.0}] * max(1, len(annotators)),
              ["valence", "arousal", "dominance"]),
          "combined_continuous": continuous(), "gender": gender, "age": age}


TRAIN_PERSON_FIELDS = ["body_bbox", "annotations_categories", "annotations_continuous", "gender",
                       "age"]
TEST_PERSON_FIELDS = ["body_bbox", "annotations_categories", "combined_categories",
                      "annotations_continuous", "combined_continuous", "gender", "age"]


def image_entry(filename, folder, width, height, people, person_fields):
  return {"filename": filename, "folder": folder,
          "image_size": struct_array([{"n_col": float(width), "n_row": float(height)}],
                                     ["n_col", "n_row"]),
          "original_database": struct_array([{"name": "mscoco", "info": "x"}], ["name", "info"]),
          "person": struct_array(people, person_fields)}


IMAGE_FIELDS = ["filename", "folder", "image_size", "original_database", "person"]


def make_emotic(root):
  """Train: 3 images (one under root/emotic/, one missing), val: 1 image, 2 annotators."""
  write_image(os.path.join(root, "mscoco/images/COCO_train2014_000000000001.jpg"), 64, 48)
  write_image(os.path.join(root, "emotic/framesdb/images/frame_1.jpg"), 40, 30)
  write_image(os.path.join(root, "ade20k/images/val_1.jpg"), 50, 50)
  train = struct_array([
      image_entry("COCO_train2014_000000000001.jpg", "mscoco/images", 64, 48, [
          train_person([4, 6, 24, 36], ["Peace", "Happiness", "Engagement"], "Adult"),
          train_person([30, 2, 60, 40], ["Doubt/Confusion"], "Kid")], TRAIN_PERSON_FIELDS),
      image_entry("frame_1.jpg", "framesdb/images", 40, 30, [
          train_person([0, 0, 10, 12], ["Yearning", "Fatigue"], "Teenager"),
          train_person([5, 5, 15, 15], ["Fatigue"], "Unknown")], TRAIN_PERSON_FIELDS),
      image_entry("missing.jpg", "mscoco/images", 10, 10, [
          train_person([0, 0, 5, 5], ["Anger"], "Adult")], TRAIN_PERSON_FIELDS),
  ], IMAGE_FIELDS)
  val = struct_array([
      image_entry("val_1.jpg", "ade20k/images", 50, 50, [
          val_person([1, 2, 21, 32], [["Sadness", "Pain"], ["Suffering"]],
                      ["Pain", "Sadness", "Suffering"], "Adult"),
          val_person([10, 10, 40, 40], [["Surprise"]], ["Surprise"], "Kid")],
                  TEST_PERSON_FIELDS)], IMAGE_FIELDS)
  os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
  scipy.io.savemat(os.path.join(root, "Annotations", "Annotations.mat"),
                   {"train": train, "val": val, "test": val})
  return root


def test_fake_mat_has_the_reference_layout(tmp_path):
  """The reference converter's indexing (entry[1][0][0][0] ...) works on the fixture."""
  root = make_emotic(str(tmp_path))
  mat = scipy.io.loadmat(os.path.join(root, "Annotations", "Annotations.mat"))
  a, b, _, _, e = mat["train"][0][0]
  assert a[0] == "COCO_train2014_000000000001.jpg" and b[0] == "mscoco/images"
  entry = e[0][0]
  assert entry[0].tolist()[0] == [4, 6, 24, 36]
  assert [cat[0][0] for cat in entry[1][0][0][0]] == ["Peace"]   # only the first category
  assert entry[3][0] == "Female" and entry[4][0] == "Adult"


@pytest.mark.parametrize("squeeze_me", [False, True])
@pytest.mark.parametrize("struct_as_record", [False, True])
def test_emotic_mat_parsing_is_robust_to_loadmat_options(tmp_path, squeeze_me,
                                                         struct_as_record):
  root = make_emotic(str(tmp_path))
  path = os.path.join(root, "Annotations", "Annotations.mat")
  for split in ("train", "val"):
    mat = scipy.io.loadmat(path, squeeze_me=squeeze_me, struct_as_record=struct_as_record)
    got = emotic.parse_mat_split(mat[split])
    ref = emotic.parse_mat_split(scipy.io.loadmat(path)[split])
    strip = lambda imgs: [(i["filename"], i["folder"], [  # pylint: disable=g-long-lambda
        (p["box"].tolist(), p["first"], p["labels"], p["age"], p["gender"]) for p in i["people"]])
                          for i in imgs]
    assert strip(got) == strip(ref)
  assert strip(got)[0][2][0] == ([1, 2, 21, 32], "Sadness", ["Sadness", "Pain", "Suffering"],
                                 "Adult", "Male")


def test_emotic_age(tmp_path):
  root = make_emotic(str(tmp_path))
  ds = emotic.emotic_age(root)
  assert ds.task == "age" and ds.k == 1 and ds.classnames == ["Adult", "Kid", "Teenager"]
  assert ds.prompts == [["a photo of a adult person"], ["a photo of a kid person"],
                        ["a photo of a teenager person"]]
  assert ds.labels().tolist() == [0, 1, 2]          # 'Unknown' age and the missing image dropped
  assert ds.info["dropped"]["unknown_age"] == 1 and ds.info["dropped"]["missing_image"] == 1
  assert ds.info["split"] == "train" and ds.info["num_people"] == 5
  assert ds.load_image(ds.examples[0]).shape == (30, 20, 3)      # box [4, 6, 24, 36]
  assert ds.load_image(ds.examples[2]).shape == (12, 10, 3)      # under root/emotic/
  assert ds.examples[2].source == os.path.join(root, "emotic", "framesdb/images", "frame_1.jpg")
  fixed = emotic.emotic_age(root, fixed_grammar=True)
  assert fixed.prompts == [["a photo of an adult person"], ["a photo of a kid person"],
                           ["a photo of a teenager person"]]


def test_emotic_emotion_first_category_and_all_labels(tmp_path):
  root = make_emotic(str(tmp_path))
  ds = emotic.emotic_emotion(root)
  assert ds.task == "emotion" and ds.k == 3 and ds.multilabel
  assert ds.classnames == EMOTIC_CATEGORIES
  assert ds.prompts[9] == ["a photo of a person who is feeling doubt/confusion"]
  assert ds.prompts[0] == ["a photo of a person who is feeling affection"]
  ix = EMOTIC_CATEGORIES.index
  assert [e.label for e in ds.examples] == [ix("Peace"), ix("Doubt/Confusion"), ix("Yearning"),
                                            ix("Fatigue")]
  assert ds.examples[0].labels == (ix("Peace"), ix("Happiness"), ix("Engagement"))
  assert ds.examples[2].all_labels == (ix("Yearning"), ix("Fatigue"))
  assert ds.info["multilabel_people"] == 2
  assert emotic.emotic_emotion(root, fixed_grammar=True).prompts == ds.prompts


def test_emotic_val_uses_first_annotator_and_combined_categories(tmp_path):
  root = make_emotic(str(tmp_path))
  ds = emotic.emotic_emotion(root, split="val")
  ix = EMOTIC_CATEGORIES.index
  assert ds.examples[0].label == ix("Sadness")
  assert ds.examples[0].labels == (ix("Sadness"), ix("Pain"), ix("Suffering"))
  assert ds.examples[1].labels == (ix("Surprise"),)
  assert emotic.emotic_age(root, split="val").labels().tolist() == [0, 1]


def test_emotic_paper_protocol_classes_from_data(tmp_path):
  root = make_emotic(str(tmp_path))
  ds = emotic.emotic_emotion(root, paper_protocol=True)
  assert ds.classnames == ["Doubt/Confusion", "Fatigue", "Peace", "Yearning"]
  assert ds.labels().tolist() == [2, 0, 3, 1]
  assert ds.examples[0].labels == (2,)              # Happiness, Engagement: not classes here
  assert len(ds.prompts) == 4 and ds.info["classes_from_data"]


def test_emotic_json_layouts(tmp_path):
  root = str(tmp_path)
  write_image(os.path.join(root, "mscoco/images/a.jpg"), 64, 48)
  os.makedirs(os.path.join(root, "annotations"))
  with open(os.path.join(root, "annotations", "train.json"), "w") as f:
    json.dump([{"filename": "a.jpg", "folder": "mscoco/images", "person": [
        {"body_bbox": [4, 6, 24, 36], "categories": ["Peace", "Happiness"], "age": "Kid"}]}], f)
  ds = emotic.emotic_emotion(root)
  ix = EMOTIC_CATEGORIES.index
  assert ds.examples[0].labels == (ix("Peace"), ix("Happiness"))
  assert ds.load_image(ds.examples[0]).shape == (30, 20, 3)
  assert emotic.emotic_age(root).labels().tolist() == [1]
  os.remove(os.path.join(root, "annotations", "train.json"))
  with open(os.path.join(root, "annotations_train.json"), "w") as f:   # the reference converter's
    json.dump([{"image_name": "a.jpg", "image_folder": "mscoco/images",
                "image_dims": {"width": 64, "height": 48}, "emotion_data": [
                    {"bbox": [4, 6, 24, 36], "categories": "Peace", "valence": 5, "arousal": 5,
                     "dominance": 5, "gender": "Male", "age": "Teenager"}]}], f)
  assert emotic.emotic_emotion(root).labels().tolist() == [ix("Peace")]
  assert emotic.emotic_age(root).labels().tolist() == [2]


def test_emotic_missing_annotations(tmp_path):
  with pytest.raises(FileNotFoundError, match="Annotations.mat"):
    emotic.emotic_age(str(tmp_path))


# ------------------------------------------------------------------------------------- FER


def pattern(seed):
  return ((np.arange(48 * 48) * 7 + seed) % 256).astype(np.uint8)


def make_fer2013(root, name="fer2013.csv"):
  rows = [(0, "Training"), (3, "Training"), (6, "PublicTest"), (5, "PrivateTest"),
          (4, "Training"), (9, "Training"), (2, "Training")]
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, name), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["emotion", "pixels", "Usage"])
    for i, (label, usage) in enumerate(rows):
      pix = " ".join(map(str, pattern(i)))
      if i == 4:
        pix = pix.rsplit(" ", 1)[0]    # 2303 pixels: malformed
      w.writerow([label, pix, usage])
  return root


FER2013_PROMPTS = [["a photo of an angry looking face"], ["a photo of a disgusted looking face"],
                   ["a photo of a fearful looking face"], ["a photo of a happy looking face"],
                   ["a photo of a sad looking face"], ["a photo of a surprised looking face"],
                   ["a photo of a neutral looking face"]]


def test_fer2013_usage_split_and_pixels(tmp_path):
  root = make_fer2013(str(tmp_path))
  ds = fer.fer2013(root)
  assert ds.task == "emotion" and ds.k == 3 and ds.info["split"] == "train"
  assert ds.classnames == ["anger", "disgust", "fear", "happiness", "sadness", "surprise",
                           "neutral"]
  assert ds.prompts == FER2013_PROMPTS
  assert ds.labels().tolist() == [0, 3, 2]            # bad emotion 9 and bad pixels dropped
  assert ds.info["dropped"] == {"bad_emotion": 1, "bad_pixels": 1}
  assert ds.arrays.dtype == np.uint8 and ds.arrays.shape == (3, 48, 48)
  np.testing.assert_array_equal(ds.arrays[1], pattern(1).reshape(48, 48))   # row-major
  assert ds.arrays[1][0, 1] == 7 + 1 and ds.arrays[1][1, 0] == (48 * 7 + 1) % 256
  img = ds.load_image(ds.examples[2])
  assert img.shape == (48, 48, 3) and (img[..., 0] == pattern(6).reshape(48, 48)).all()
  assert fer.fer2013(root, split="val").labels().tolist() == [6]
  assert fer.fer2013(root, split="test").labels().tolist() == [5]
  assert fer.fer2013(root, fixed_grammar=True).prompts == FER2013_PROMPTS


def test_fer2013_kaggle_train_csv_and_icml(tmp_path):
  root = str(tmp_path / "a")
  os.makedirs(os.path.join(root, "fer2013"))
  with open(os.path.join(root, "fer2013", "train.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["emotion", "pixels"])
    w.writerow([1, " ".join(map(str, pattern(3)))])
  ds = fer.fer2013(root)
  assert ds.labels().tolist() == [1]
  np.testing.assert_array_equal(ds.arrays[0], pattern(3).reshape(48, 48))
  with pytest.raises(FileNotFoundError, match="fer2013.csv"):
    fer.fer2013(root, split="test")
  root = str(tmp_path / "b")
  os.makedirs(root)
  with open(os.path.join(root, "icml_face_data.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["emotion", " Usage", " pixels"])
    w.writerow([4, "PrivateTest", " ".join(map(str, pattern(0)))])
  assert fer.fer2013(root, split="test").labels().tolist() == [4]


def make_ferplus(root, sub=""):
  folder = os.path.join(root, sub, "FER2013Test")
  rows = [
      ("a.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]),     # neutral
      ("b.png", [0, 5, 5, 0, 0, 0, 0, 0, 0, 0]),     # tie happiness / surprise -> happiness
      ("c.png", [0, 0, 0, 0, 3, 0, 3, 0, 4, 0]),     # tie anger / fear (unknown ignored) -> anger
      ("d.png", [1, 8, 0, 0, 0, 0, 0, 0, 0, 1]),     # NF > 0: dropped
      ("e.png", [0, 0, 0, 0, 0, 0, 0, 7, 3, 0]),     # contempt
      ("f.png", [9, 0, 0, 0, 0, 0, 0, 0, 1, 0]),     # image missing: dropped
  ]
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "label.csv"), "w", newline="") as f:
    w = csv.writer(f)
    for name, votes in rows:
      w.writerow([name, "(0, 0, 48, 48)"] + votes)
      if name != "f.png":
        write_image(os.path.join(folder, name), 48, 48, mode="L")
    f.write("g.png,(0, 0, 48, 48),0,0,0,0,0,0,9,0,1,0\n")   # unquoted box: still parsed
  write_image(os.path.join(folder, "g.png"), 48, 48, mode="L")
  return root


def test_ferplus_votes_nf_and_ties(tmp_path):
  root = make_ferplus(str(tmp_path))
  ds = fer.ferplus(root)
  assert ds.info["split"] == "test" and ds.task == "emotion" and ds.k == 3
  assert ds.classnames == ["neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                           "fear", "contempt"]
  assert ds.prompts == [["a photo of a neutral looking face"], ["a photo of a happy looking face"],
                        ["a photo of a surprised looking face"], ["a photo of a sad looking face"],
                        ["a photo of an angry looking face"],
                        ["a photo of a disgusted looking face"],
                        ["a photo of an afraid looking face"],
                        ["a photo of a contemptuous looking face"]]
  assert ds.labels().tolist() == [0, 1, 4, 7, 6]
  assert ds.info["dropped"] == {"not_a_face": 1, "missing_image": 1, "malformed_row": 0}
  assert ds.load_image(ds.examples[0]).shape == (48, 48, 3)
  with pytest.raises(FileNotFoundError, match="FER2013Valid"):
    fer.ferplus(root, split="val")


def test_ferplus_data_subfolder(tmp_path):
  root = make_ferplus(str(tmp_path), sub="data")
  assert len(fer.ferplus(root).examples) == 5


# ------------------------------------------------------------------------------------- CUB


CUB_IMAGES = [  # id, path, class id, is_train, (w, h)
    (1, "001.Black_footed_Albatross/Black_Footed_Albatross_0001.jpg", 1, 1, (40, 30)),
    (2, "001.Black_footed_Albatross/Black_Footed_Albatross_0002.jpg", 1, 0, (32, 24)),
    (3, "002.Laysan_Albatross/Laysan_Albatross_0001.jpg", 2, 0, (20, 20)),
    (4, "003.Acadian_Flycatcher/Acadian_Flycatcher_0001.jpg", 3, 0, (24, 36)),
    (5, "003.Acadian_Flycatcher/Acadian_Flycatcher_0002.jpg", 3, 1, (16, 16)),
]


def make_cub(root):
  def write(name, lines):
    os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    with open(os.path.join(root, name), "w") as f:
      f.write("\n".join(lines) + "\n")
  write("classes.txt", ["1 001.Black_footed_Albatross", "2 002.Laysan_Albatross",
                        "3 003.Acadian_Flycatcher"])
  write("images.txt", [f"{i} {p}" for i, p, _, _, _ in CUB_IMAGES])
  write("image_class_labels.txt", [f"{i} {c}" for i, _, c, _, _ in CUB_IMAGES])
  write("train_test_split.txt", [f"{i} {t}" for i, _, _, t, _ in CUB_IMAGES])
  write("bounding_boxes.txt", [f"{i} 1.0 1.0 10.0 10.0" for i, *_ in CUB_IMAGES])
  write("parts/parts.txt", [f"{i + 1} {n}" for i, n in enumerate(cub.CUB_PARTS)])
  locs = []
  for i, *_ in CUB_IMAGES:
    for p in range(1, 16):
      vis = int(i == 2 and p in (1, 9, 14))        # image 2: back, left wing, tail visible
      x, y = ((10.0, 12.0) if p == 1 else (4.0, 12.0) if p == 9 else (20.0, 14.0)) if vis else (
          0.0, 0.0)
      locs.append(f"{i} {p} {x} {y} {vis}")
  write("parts/part_locs.txt", locs)
  for _, p, _, _, (w, h) in CUB_IMAGES:
    write_image(os.path.join(root, "images", p), w, h)
  return root


def test_cub_classes_split_prompts(tmp_path):
  root = make_cub(str(tmp_path))
  ds = cub.cub200(root)
  assert ds.task == "species" and ds.k == 1 and ds.info["split"] == "test"
  assert ds.classnames == ["Black footed Albatross", "Laysan Albatross", "Acadian Flycatcher"]
  assert ds.prompts == [["a photo of a Black footed Albatross, a type of bird."],
                        ["a photo of a Laysan Albatross, a type of bird."],
                        ["a photo of a Acadian Flycatcher, a type of bird."]]
  assert ds.labels().tolist() == [0, 1, 2]
  assert ds.load_image(ds.examples[2]).shape == (36, 24, 3)     # whole image
  assert cub.cub200(root, split="train").labels().tolist() == [0, 2]
  assert len(cub.cub200(root, split="all").examples) == 5
  assert cub.cub200(root, fixed_grammar=True).prompts[2] == [
      "a photo of an Acadian Flycatcher, a type of bird."]
  assert cub.prompt("European Goldfinch", fixed_grammar=True).startswith("a photo of a Eu")


def test_cub_missing_files(tmp_path):
  with pytest.raises(FileNotFoundError, match="images.txt"):
    cub.cub200(str(tmp_path))


def test_cub_part_locations_and_bird_heatmap(tmp_path):
  root = make_cub(str(tmp_path))
  parts = cub.load_part_locations(root)
  assert sorted(parts) == [1, 2, 3, 4, 5]
  xy, vis = parts[2]
  assert xy.shape == (15, 2) and vis.tolist() == [1] + [0] * 7 + [1] + [0] * 4 + [1, 0]
  assert xy[8].tolist() == [4.0, 12.0]
  heat = cub.bird_heatmap(xy, vis, 24, 32, single_frac=0)
  # left wing (4, 12) + back (10, 12): centre (7, 12), sigma (3, 1); tail (20, 14) + back:
  # centre (15, 13), sigma (5, 1). Body, right wing: only the back -> nothing with single_frac=0.
  assert np.isfinite(heat).all() and heat.dtype == np.float32
  assert heat[12, 7] == pytest.approx(1.0) and heat.max() <= 1.0
  assert heat[12, 4] == pytest.approx(np.exp(-0.5) + np.exp(-121 / 50 - 0.5), rel=1e-5)
  assert heat[0, 0] == 0.0 and heat[23, 31] == 0.0
  assert not cub.bird_heatmap(xy, np.zeros(15), 24, 32).any()
  # A lone visible part gets a round blob (sigma from the bird's extent, floored at min_sigma).
  lone = np.zeros(15)
  lone[13] = 1
  heat = cub.bird_heatmap(xy, lone, 24, 32)
  assert heat[14, 20] == pytest.approx(1.0) and heat[14, 21] == pytest.approx(np.exp(-0.5))
  assert not cub.bird_heatmap(xy, lone, 24, 32, single_frac=0).any()
  # src_hw: coordinates of a 48 x 64 image mapped onto the 24 x 32 grid.
  up = cub.bird_heatmap((xy + 0.5) * 2 - 0.5, vis, 24, 32, single_frac=0, src_hw=(48, 64))
  np.testing.assert_allclose(up, cub.bird_heatmap(xy, vis, 24, 32, single_frac=0), atol=1e-6)


def test_heatmap_from_groups_reproduces_mpii_fast_mode():
  rng = np.random.default_rng(0)
  groups = [joints for _, joints in hm.BODY_PARTS]
  for num_people in (0, 1, 3):
    kpts = rng.uniform(-5, 70, (num_people, 16, 2))
    vis = (rng.uniform(size=(num_people, 16)) < 0.7).astype(np.int32)
    for min_sigma in (0.0, 1.0, 2.5):
      got = hm.heatmap_from_groups(kpts, vis, groups, 48, 64, min_sigma=min_sigma)
      want = hm.heatmap_numpy(kpts, vis, 48, 64, min_sigma=min_sigma)
      np.testing.assert_array_equal(got, want)
  with pytest.raises(ValueError, match="outside"):
    hm.heatmap_from_groups(kpts, vis, [(0, 16)], 8, 8)


# ------------------------------------------------------------------------------- registry


def test_load_by_name_with_default_folders(tmp_path):
  data_root = str(tmp_path)
  make_emotic(os.path.join(data_root, "emotic"))
  make_fer2013(os.path.join(data_root, "fer2013"))
  make_ferplus(os.path.join(data_root, "ferplus"))
  make_cub(os.path.join(data_root, "cub"))
  expected = {"emotic_age": ("age", 1, 3), "emotic_emotion": ("emotion", 3, 26),
              "fer2013": ("emotion", 3, 7), "ferplus": ("emotion", 3, 8),
              "cub": ("species", 1, 3)}
  for name, (task, k, num_classes) in expected.items():
    ds = eval_datasets.load(name, data_root)
    assert (ds.name, ds.task, ds.k, ds.num_classes) == (name, task, k, num_classes)
    assert ds.examples
  assert eval_datasets.load("fer2013", data_root, split="val").labels().tolist() == [6]


def test_cub_as_a_training_source_with_bird_heatmaps(tmp_path, minilm_dir):
  from input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny  # pylint: disable=g-import-not-at-top
  root = make_cub(str(tmp_path / "CUB_200_2011"))
  # Reed et al. captions for one training image.
  os.makedirs(os.path.join(root, "text_c10", "003.Acadian_Flycatcher"), exist_ok=True)
  cap_img = next(p for i, p, _, t, _ in CUB_IMAGES if t == 1 and p.startswith("003"))
  with open(os.path.join(root, "text_c10", os.path.splitext(cap_img)[0] + ".txt"), "w") as f:
    f.write("this bird has a yellow belly\nthis bird is small and olive\n")
  config = tiny(**{"data.dataset": "cub", "data.root": root, "train.batch_size": 2,
                   "model.text.tokenizer": minilm_dir})
  ds = pipeline.create_datasets(config, process_index=0, process_count=1)
  assert ds.num_train_examples == 2
  batches = [next(ds.train_iter(e)) for e in range(3)]  # one batch per epoch
  b = batches[0]
  assert b["image"].shape == (2, 32, 32, 3) and b["heatmap"].shape == (2, 32, 32, 1)
  assert 0 <= b["heatmap"].min() and b["heatmap"].max() <= 1
  from input_pipeline.tokenizer import get_tokenizer  # pylint: disable=g-import-not-at-top
  tok = get_tokenizer(minilm_dir, 16)
  texts = {tok.decode(ids) for b in batches for ids in b["text_ids"]}
  assert any("a type of bird" in t for t in texts)  # class prompt for the uncaptioned image
  assert any("this bird" in t for t in texts)  # a caption for the captioned one
  # Image 2 (validation; back, left wing and tail visible) has a bird heatmap, others none.
  val = list(ds.eval_iter())
  with_heat = {int(i) for b in val for i, h, m in zip(b["id"], b["heatmap"], b["_mask"])
               if m and h.max() > 0.5}
  assert with_heat == {2}
