"""Zero-shot readers on tiny fake datasets in their native layouts: Stanford40, FairFace,
UTKFace, LAGENDA (Kinetics-400: test_eval_kinetics.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from input_pipeline import eval_datasets
from input_pipeline.eval_datasets import fairface
from input_pipeline.eval_datasets import lagenda
from input_pipeline.eval_datasets import stanford40
from input_pipeline.eval_datasets import utkface

# docs/method.md §6.1, in actions.txt order.
STANFORD40_ACTIONS = (
    "applauding blowing_bubbles brushing_teeth cleaning_the_floor climbing cooking cutting_trees "
    "cutting_vegetables drinking feeding_a_horse fishing fixing_a_bike fixing_a_car gardening "
    "holding_an_umbrella jumping looking_through_a_microscope looking_through_a_telescope "
    "phoning playing_guitar playing_violin pouring_liquid pushing_a_cart reading riding_a_bike "
    "riding_a_horse rowing_a_boat running shooting_an_arrow smoking taking_photos "
    "texting_message throwing_frisby using_a_computer walking_the_dog washing_dishes "
    "watching_TV waving_hands writing_on_a_board writing_on_a_book").split()


def _jpg(path, w=16, h=12, color=(128, 64, 32)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new("RGB", (w, h), color).save(path, quality=95)
  return str(path)


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)


# ------------------------------------------------------------------------------ Stanford40


# actions.txt variants: (first line, whether later lines carry counts, header skipped).
ACTIONS_VARIANTS = {
    "released": ("action_name\tnumber_of_images", True, "action_name number_of_images"),
    "spaces": ("action_name  number_of_images", True, "action_name number_of_images"),
    "other_words": ("class\tcount", True, "class count"),
    "one_word": ("actions", True, "actions"),
    "no_header": (None, True, None),
    "bare_names": (None, False, None),
}


def _stanford40(root, variant="released"):
  header, counts, _ = ACTIONS_VARIANTS[variant]
  lines = ["applauding\t2", "riding_a_horse\t1", "watching_TV\t1"]
  if not counts:
    lines = [line.split("\t")[0] for line in lines]
  if header is not None:
    lines = [header] + lines
  _write(root / "ImageSplits" / "actions.txt", "\r\n".join(lines) + "\r\n")
  _write(root / "ImageSplits" / "test.txt",
         "applauding_001.jpg\nriding_a_horse_001.jpg\nwatching_TV_002.jpg\n"
         "applauding_003.jpg\n")  # the last one has no image
  _write(root / "ImageSplits" / "train.txt", "applauding_002.jpg\n")
  for name in ("applauding_001", "riding_a_horse_001", "watching_TV_002", "applauding_002"):
    _jpg(root / "JPEGImages" / f"{name}.jpg", w=20, h=10)
  return root


@pytest.mark.parametrize("variant", sorted(ACTIONS_VARIANTS))
def test_stanford40(tmp_path, variant):
  ds = stanford40.stanford40(str(_stanford40(tmp_path, variant)))
  assert ds.name == "stanford40" and ds.task == "action" and ds.k == 3
  # A header of any wording is skipped; the first class is never taken for one.
  assert ds.classnames == ["applauding", "riding_a_horse", "watching_TV"]
  assert ds.info["actions_header"] == ACTIONS_VARIANTS[variant][2]
  assert ds.prompts == [["a photo of a person applauding"],
                        ["a photo of a person riding a horse"],
                        ["a photo of a person watching tv"]]
  assert ds.labels().tolist() == [0, 1, 2]
  assert [os.path.basename(e.source) for e in ds.examples] == [
      "applauding_001.jpg", "riding_a_horse_001.jpg", "watching_TV_002.jpg"]
  assert all(e.box is None for e in ds.examples)
  assert ds.load_image(ds.examples[0]).shape == (10, 20, 3)  # full image, no crop
  assert ds.info["split"] == "test" and ds.info["dropped"] == {"missing_image": 1}
  assert ds.info["paper_protocol"] is False and ds.info["prompt_permutation"] is None
  train = stanford40.stanford40(str(tmp_path), split="train")
  assert train.labels().tolist() == [0] and train.info["split"] == "train"


def test_stanford40_single_class_file_keeps_its_class(tmp_path):
  # One counted line and nothing else: a class, not a header.
  _write(tmp_path / "a.txt", "applauding\t284\n")
  assert stanford40.parse_actions(str(tmp_path / "a.txt")) == (["applauding"], None)
  _write(tmp_path / "b.txt", "applauding\n")
  assert stanford40.parse_actions(str(tmp_path / "b.txt")) == (["applauding"], None)
  _write(tmp_path / "c.txt", "action_name\tnumber_of_images\napplauding\t3\napplauding\t1\n")
  with pytest.raises(ValueError, match=r"duplicate.*applauding"):
    stanford40.parse_actions(str(tmp_path / "c.txt"))
  _write(tmp_path / "d.txt", "\n\n")
  with pytest.raises(ValueError, match=r"d\.txt is empty.*action_name"):
    stanford40.parse_actions(str(tmp_path / "d.txt"))


def test_stanford40_paper_protocol_permutes_prompts_only(tmp_path):
  root = str(_stanford40(tmp_path))
  fixed = stanford40.stanford40(root)
  paper = stanford40.stanford40(root, paper_protocol=True)
  perm = np.random.default_rng(0).permutation(3).tolist()
  assert paper.info["prompt_permutation"] == perm and perm != [0, 1, 2]
  assert paper.classnames == fixed.classnames
  assert paper.labels().tolist() == fixed.labels().tolist()
  assert paper.prompts == [fixed.prompts[j] for j in perm]
  assert paper.info["paper_protocol"] is True


def test_stanford40_full_class_list(tmp_path):
  lines = ["action_name\tnumber_of_images"] + [f"{a}\t1" for a in STANFORD40_ACTIONS]
  _write(tmp_path / "ImageSplits" / "actions.txt", "\n".join(lines) + "\n")
  _write(tmp_path / "ImageSplits" / "test.txt", "waving_hands_001.jpg\n")
  _jpg(tmp_path / "JPEGImages" / "waving_hands_001.jpg")
  ds = stanford40.stanford40(str(tmp_path))
  assert ds.classnames == STANFORD40_ACTIONS and ds.num_classes == 40
  assert ds.labels().tolist() == [STANFORD40_ACTIONS.index("waving_hands")]
  assert ds.prompts[15] == ["a photo of a person jumping"]
  paper = stanford40.stanford40(str(tmp_path), paper_protocol=True)
  perm = np.random.default_rng(0).permutation(40)
  assert [p[0] for p in paper.prompts] == [ds.prompts[j][0] for j in perm]
  assert sum(a != b for a, b in zip(paper.prompts, ds.prompts)) > 30


def test_stanford40_errors(tmp_path):
  _stanford40(tmp_path)
  os.remove(tmp_path / "ImageSplits" / "actions.txt")
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)missing \S*ImageSplits/actions\.txt\..*Expected layout: "
                           r"<root>/JPEGImages/<action>_<NNN>\.jpg"):
    stanford40.stanford40(str(tmp_path))
  with pytest.raises(FileNotFoundError,
                     match=r"missing \S*JPEGImages, \S*actions\.txt, \S*test\.txt\. Expected"):
    stanford40.stanford40(str(tmp_path / "elsewhere"))
  _stanford40(tmp_path)
  with pytest.raises(ValueError, match="split"):
    stanford40.stanford40(str(tmp_path), split="val")
  _write(tmp_path / "ImageSplits" / "test.txt", "dancing_001.jpg\n")
  with pytest.raises(ValueError, match="not in"):
    stanford40.stanford40(str(tmp_path))


# ------------------------------------------------------------------------------ FairFace

FAIRFACE_PROMPTS = [
    "a photo of a black person", "a photo of a east asian person", "a photo of a indian person",
    "a photo of a latino_hispanic person", "a photo of a middle eastern person",
    "a photo of a southeast asian person", "a photo of a white person"]


FAIRFACE_HEADER = "file,age,gender,race,service_test"  # fairface_label_{train,val}.csv


def _fairface(root, folder=""):
  """The label CSVs in ``root``, the images in ``root/folder`` (the zip's own top folder)."""
  races = ["White", "East Asian", "Latino_Hispanic", "Black", "Indian"]
  rows = [FAIRFACE_HEADER]
  images = root / folder if folder else root
  for i, race in enumerate(races, 1):
    rows.append(f"val/{i}.jpg,20-29,Male,{race},True")
    _jpg(images / "val" / f"{i}.jpg", w=14, h=14)
  rows.append("val/99.jpg,3-9,Female,Indian,False")  # no image
  _write(root / "fairface_label_val.csv", "\n".join(rows) + "\n")
  _write(root / "fairface_label_train.csv",
         f"{FAIRFACE_HEADER}\ntrain/1.jpg,30-39,Female,Middle Eastern,True\n")
  _jpg(images / "train" / "1.jpg")
  return root


@pytest.mark.parametrize("folder,padding", [
    ("", "unknown"), ("fairface-img-margin025-trainval", "0.25"),
    ("fairface-img-margin125-trainval", "1.25")])
def test_fairface(tmp_path, folder, padding):
  ds = fairface.fairface_race(str(_fairface(tmp_path, folder)))
  assert ds.name == "fairface_race" and ds.task == "race" and ds.k == 1
  assert ds.classnames == ["Black", "East Asian", "Indian", "Latino_Hispanic", "Middle Eastern",
                           "Southeast Asian", "White"]
  assert [p[0] for p in ds.prompts] == FAIRFACE_PROMPTS
  assert ds.labels().tolist() == [6, 1, 3, 0, 2]
  assert ds.examples[0].source == str(tmp_path / folder / "val" / "1.jpg")
  assert ds.info["padding"] == padding
  assert ds.info["image_folder"] == str(tmp_path / folder)
  assert ds.info["split"] == "val" and ds.info["dropped"] == {"missing_image": 1}
  assert ds.load_image(ds.examples[0]).shape == (14, 14, 3)
  fixed = fairface.fairface_race(str(tmp_path), fixed_grammar=True)
  assert [p[0] for p in fixed.prompts] == [
      "a photo of a black person", "a photo of an east asian person",
      "a photo of an indian person", "a photo of a latino hispanic person",
      "a photo of a middle eastern person", "a photo of a southeast asian person",
      "a photo of a white person"]
  assert fixed.labels().tolist() == ds.labels().tolist()
  train = fairface.fairface_race(str(tmp_path), split="train")
  assert train.labels().tolist() == [4] and train.info["split"] == "train"


def test_fairface_both_margins_is_an_error(tmp_path):
  _fairface(tmp_path, "fairface-img-margin025-trainval")
  _fairface(tmp_path, "fairface-img-margin125-trainval")
  with pytest.raises(ValueError, match=r"margin025-trainval and .*margin125-trainval hold val/"):
    fairface.fairface_race(str(tmp_path))


def test_fairface_reference_layout_and_errors(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)missing \S*fairface_label_val\.csv, \S*annotations/val\.csv\..*"
                           r"Expected layout: <root>/fairface_label_<split>\.csv"):
    fairface.fairface_race(str(tmp_path))
  _write(tmp_path / "fairface_label_val.csv",
         f"{FAIRFACE_HEADER}\nval/1.jpg,3-9,Male,White,True\n")
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)no image folder val/ in .*margin125-trainval/val.*"
                           r"Expected layout"):
    fairface.fairface_race(str(tmp_path))
  os.remove(tmp_path / "fairface_label_val.csv")
  _write(tmp_path / "annotations" / "val.csv",
         f"{FAIRFACE_HEADER}\nval/7.jpg,20-29,Male,Southeast Asian,True\n")
  _jpg(tmp_path / "images" / "val" / "7.jpg")
  ds = fairface.fairface_race(str(tmp_path))
  assert ds.labels().tolist() == [5]
  assert ds.info["image_folder"] == str(tmp_path / "images")
  _write(tmp_path / "annotations" / "val.csv", "file,race\nval/7.jpg,Martian\n")
  with pytest.raises(ValueError, match="Martian"):
    fairface.fairface_race(str(tmp_path))


# ------------------------------------------------------------------------------ UTKFace

UTK_AGES = {2: 0, 3: 1, 9: 1, 10: 2, 19: 2, 20: 3, 29: 3, 30: 4, 85: 4}


def _utkface(root, folder="images"):
  names = []
  for i, age in enumerate(UTK_AGES):
    stem = f"{age}_{i % 2}_{i % 5}_2017011617452{i:04d}.jpg"
    _jpg(root / folder / f"{stem}.chip.jpg", w=10, h=10)
    # The reference's list holds names with or without .chip.jpg, possibly with a folder.
    names.append(f"UTKFace/{stem}" if i % 2 else f"{stem}.chip.jpg")
  _jpg(root / folder / "x_1_0_20170116.jpg.chip.jpg")  # age does not parse
  names += ["x_1_0_20170116.jpg.chip.jpg", "50_0_0_20170000000000000.jpg"]  # last: missing
  _write(root / "annotations" / "val.csv",
         "img_name,age\n" + "".join(f"{n},0\n" for n in names))
  return root


@pytest.mark.parametrize("folder", ["images", "UTKFace"])
def test_utkface(tmp_path, folder):
  ds = utkface.utkface_age(str(_utkface(tmp_path, folder)))
  assert ds.name == "utkface" and ds.task == "age" and ds.k == 1
  assert ds.classnames == ["baby", "child", "teenager", "young adult", "adult"]
  assert [p[0] for p in ds.prompts] == [
      "a photo of a baby person", "a photo of a child person", "a photo of a teenager person",
      "a photo of a young adult person", "a photo of a adult person"]
  assert ds.labels().tolist() == list(UTK_AGES.values())
  assert ds.info["dropped"] == {"missing_image": 1, "unparsed_name": 1}
  assert ds.info["split"] == "val"
  assert ds.load_image(ds.examples[0]).shape == (10, 10, 3)
  fixed = utkface.utkface_age(str(tmp_path), fixed_grammar=True)
  assert fixed.prompts[4] == ["a photo of an adult person"]
  assert fixed.prompts[3] == ["a photo of a young adult person"]
  every = utkface.utkface_age(str(tmp_path), split="all")
  assert sorted(every.labels().tolist()) == sorted(UTK_AGES.values())
  assert every.info["dropped"]["unparsed_name"] == 1


def test_utkface_bins():
  for age, label in UTK_AGES.items():
    assert utkface.age_group(age) == label
  assert utkface.age_group(0) == 0


def test_utkface_missing_split(tmp_path):
  _jpg(tmp_path / "images" / "20_0_0_20170000000000000.jpg.chip.jpg")
  with pytest.raises(FileNotFoundError, match=r"(?s)test\.csv.*img_name.*8"):
    utkface.utkface_age(str(tmp_path), split="test")


# ------------------------------------------------------------------------------ LAGENDA


LAGENDA_HEADER = ("img_name,age,gender,face_x0,face_y0,face_x1,face_y1,"
                  "person_x0,person_y0,person_x1,person_y1")  # the release's column order


def _lagenda(root):
  rows = [
      "images/a.jpg,35.0,M,10,10,30,40,5,0,60,80",
      "images/a.jpg,12,F,0,0,8,8,0,0,20,40",
      "images/b.jpg,12.5,F,1.5,2.5,11.5,12.5,0,0,40,60",
      "images/b.jpg,19,M,0,0,10,10,0,0,30,30",
      "images/b.jpg,19.5,-1,0,0,10,10,0,0,30,30",  # gender -1: kept by both
      "images/a.jpg,40,M,-1,-1,-1,-1,5,0,60,80",  # no face box: LG-F drops it, LG-B keeps it
      "images/a.jpg,8,F,0,0,8,8,-1,-1,-1,-1",  # no person box: LG-B drops it, LG-F keeps it
      "images/a.jpg,-1,F,0,0,8,8,0,0,20,40",  # no age: dropped by both
      "images/c.jpg,25,M,0,0,8,8,0,0,20,40",  # image missing
  ]
  _write(root / "lagenda_annotation.csv", LAGENDA_HEADER + "\n" + "\n".join(rows) + "\n")
  _jpg(root / "images" / "a.jpg", w=100, h=80)
  _jpg(root / "images" / "b.jpg", w=50, h=60)
  return root


# Per task: labels, dropped counts (hand-derived from the rows above), the 6th example's box.
LAGENDA_WANT = {
    "person": ([2, 0, 1, 1, 2, 2],
               {"age_minus_one": 1, "person_box_minus_one": 1, "unparsable_value": 0,
                "missing_image": 1}, (5.0, 0.0, 60.0, 80.0)),
    "face": ([2, 0, 1, 1, 2, 0],
             {"age_minus_one": 1, "face_box_minus_one": 1, "unparsable_value": 0,
              "missing_image": 1}, (0.0, 0.0, 8.0, 8.0)),
}


@pytest.mark.parametrize("fn,kind", [(lagenda.lagenda_body, "person"),
                                     (lagenda.lagenda_face, "face")])
def test_lagenda(tmp_path, fn, kind):
  ds = fn(str(_lagenda(tmp_path)))
  assert ds.name == {"person": "lagenda_body", "face": "lagenda_face"}[kind]
  assert ds.task == "age" and ds.k == 1
  assert ds.classnames == ["kid", "teenager", "adult"]
  assert [p[0] for p in ds.prompts] == ["a photo of a kid person", "a photo of a teenager person",
                                        "a photo of a adult person"]
  labels, dropped, last_box = LAGENDA_WANT[kind]
  assert ds.labels().tolist() == labels
  assert ds.info["dropped"] == dropped
  assert ds.examples[5].box == last_box
  assert ds.info["kept_with_gender_minus_one"] == 1
  assert "gender of -1 never drops" in ds.info["drop_rule"]
  assert ds.info["num_rows"] == 9 and ds.info["split"] == "all"
  want = {"person": [(80, 55, 3), (40, 20, 3), (60, 40, 3)],
          "face": [(30, 20, 3), (8, 8, 3), (11, 11, 3)]}[kind]
  assert [ds.load_image(e).shape for e in ds.examples[:3]] == want
  if kind == "face":
    assert ds.examples[2].box == (1.5, 2.5, 11.5, 12.5)
  fixed = fn(str(tmp_path), fixed_grammar=True)
  assert fixed.prompts[2] == ["a photo of an adult person"]
  assert fixed.prompts[0] == ["a photo of a kid person"]


@pytest.mark.parametrize("fn,kind,other", [(lagenda.lagenda_body, "person", "face"),
                                           (lagenda.lagenda_face, "face", "person")])
def test_lagenda_paper_protocol_drops_either_box(tmp_path, fn, kind, other):
  # The reference's df[(df != -1).all(1)]: the rows without a face box and without a person
  # box both go, for both tasks; the gender -1 row stays (a string column).
  ds = fn(str(_lagenda(tmp_path)), paper_protocol=True)
  assert ds.labels().tolist() == [2, 0, 1, 1, 2]
  assert ds.info["dropped"] == {"age_minus_one": 1, f"{kind}_box_minus_one": 1,
                                f"{other}_box_minus_one": 1, "unparsable_value": 0,
                                "missing_image": 1}
  assert "reference's filter" in ds.info["drop_rule"]


def test_lagenda_face_only_csv_and_extra_columns(tmp_path):
  # A file without person boxes serves LG-F (columns it does not use may be absent); LG-B
  # names the columns it lacks and the expected header. Extra columns are ignored.
  _write(tmp_path / "annotations" / "annotations.csv",
         "img_name,age,gender,face_x0,face_y0,face_x1,face_y1,ethnicity\n"
         "sub/x.jpg,30,F,0,0,4,4,unknown\nsub/x.jpg,abc,F,0,0,4,4,unknown\n")
  _jpg(tmp_path / "images" / "x.jpg")
  ds = lagenda.lagenda_face(str(tmp_path))
  assert ds.labels().tolist() == [2] and ds.examples[0].source.endswith("images/x.jpg")
  assert ds.info["dropped"]["unparsable_value"] == 1
  with pytest.raises(ValueError, match=r"(?s)lacks columns \['person_x0'.*img_name,age,gender"):
    lagenda.lagenda_body(str(tmp_path))


def test_lagenda_errors(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)missing \S*lagenda_annotation\.csv, .*Expected layout: "
                           r"<root>/lagenda_annotation\.csv"):
    lagenda.lagenda_body(str(tmp_path))
  _lagenda(tmp_path)
  with pytest.raises(ValueError, match="no splits"):
    lagenda.lagenda_face(str(tmp_path), split="test")
  os.remove(tmp_path / "images" / "a.jpg")
  os.remove(tmp_path / "images" / "b.jpg")
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)no usable row.*'missing_image': 7\}; missing images e\.g\. "
                           r"\['images/a\.jpg', 'images/b\.jpg', 'images/c\.jpg'\]"):
    lagenda.lagenda_face(str(tmp_path))


# ------------------------------------------------------------------------------ registry


def test_load_default_folders(tmp_path):
  _stanford40(tmp_path / "stanford40")
  _fairface(tmp_path / "fairface")
  _utkface(tmp_path / "utkface")
  _lagenda(tmp_path / "lagenda")
  want = {"stanford40": 3, "fairface_race": 5, "utkface": 9,
          "lagenda_body": 6, "lagenda_face": 6}
  for name, n in want.items():
    ds = eval_datasets.load(name, str(tmp_path))
    assert ds.name == name and len(ds.examples) == n, name
  paper = eval_datasets.load("stanford40", str(tmp_path), paper_protocol=True)
  assert paper.info["prompt_permutation"] is not None
  fixed = eval_datasets.load("fairface_race", str(tmp_path), fixed_grammar=True)
  assert fixed.prompts[1] == ["a photo of an east asian person"]
  assert len(eval_datasets.load("fairface_race", str(tmp_path), split="train").examples) == 1
