"""Zero-shot readers on tiny fake datasets in their native layouts: Stanford40, Kinetics-400
(and the frame extractor), FairFace, UTKFace, LAGENDA."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from input_pipeline import eval_datasets
from input_pipeline.eval_datasets import fairface
from input_pipeline.eval_datasets import kinetics
from input_pipeline.eval_datasets import kinetics_frames
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


# ------------------------------------------------------------------------------ Kinetics


KINETICS_CLIPS = [  # label, ytid, start, end: a frame exists for all but the last
    ("zumba", "vid_aaaaaaa", 10, 20), ("abseiling", "vid_bbbbbbb", 0, 10),
    ("riding a bike", "vid_ccccccc", 3, 13), ("yoga", "vid_nofram", 0, 10)]
KINETICS_CSV_HEADER = "label,youtube_id,time_start,time_end,split"  # the CVDF mirror's


def _kinetics_csv(clips, split="test", header=KINETICS_CSV_HEADER):
  # Labels with spaces are quoted, as in the distributed lists.
  quote = lambda label: f'"{label}"' if " " in label else label  # pylint: disable=g-long-lambda
  return header + "\n" + "".join(f"{quote(lb)},{y},{a},{b},{split}\n" for lb, y, a, b in clips)


def _kinetics(root, fmt="json_database", split="test"):
  """Frames + the annotation of ``split`` as ``fmt``: json, json_database or csv."""
  if fmt == "csv":
    _write(root / "annotations" / f"{split}.csv", _kinetics_csv(KINETICS_CLIPS, split))
  else:
    anno = {y: {"annotations": {"label": lb, "segment": [float(a), float(b)]},
                "duration": 10.0, "subset": "testing",
                "url": f"https://www.youtube.com/watch?v={y}"} for lb, y, a, b in KINETICS_CLIPS}
    anno["vid_ccccccc"]["annotations"]["segment"] = [3.5, 13.5]  # names truncate to seconds
    data = {"database": anno} if fmt == "json_database" else anno
    _write(root / "annotations" / f"{split}.json", json.dumps(data))
  images = root / "images" / split
  _jpg(images / "zumba" / "vid_aaaaaaa_000010_000020.jpg", w=24, h=18)
  _jpg(images / "abseiling" / "vid_bbbbbbb_000000_000010.jpg")
  _jpg(images / "riding a bike" / "vid_ccccccc_000003_000013.jpg")
  _jpg(images / "bowling" / "vid_ddddddd_000001_000011.jpg")  # not annotated: kept
  return root


@pytest.mark.parametrize("fmt", ["json", "json_database", "csv"])
def test_kinetics(tmp_path, fmt):
  ds = kinetics.kinetics400(str(_kinetics(tmp_path, fmt)))
  assert ds.name == "kinetics400" and ds.task == "action" and ds.k == 3
  assert ds.classnames == ["abseiling", "bowling", "riding a bike", "zumba"]
  assert ds.prompts == [["a photo of a person abseiling"], ["a photo of a person bowling"],
                        ["a photo of a person riding a bike"], ["a photo of a person zumba"]]
  assert ds.labels().tolist() == [0, 1, 2, 3]
  assert os.path.basename(ds.examples[3].source) == "vid_aaaaaaa_000010_000020.jpg"
  assert ds.load_image(ds.examples[3]).shape == (18, 24, 3)
  assert ds.info["split"] == "test"
  assert ds.info["frames"] == {"annotated": 3, "unannotated": 1,
                               "label_differs_from_annotation": 0, "unparsed_name": 0}
  assert ds.info["num_annotated_clips"] == 4 and ds.info["annotated_clips_without_frame"] == 1
  ext = "csv" if fmt == "csv" else "json"
  assert ds.info["annotation"].endswith(os.path.join("annotations", f"test.{ext}"))
  assert ds.info["annotation_format"] == ext


def test_kinetics_annotation_formats_agree(tmp_path):
  clips = KINETICS_CLIPS + [("tai chi", "vid_eeeeeee", 7, 17)]
  _write(tmp_path / "test.csv", _kinetics_csv(clips) + "yoga,vid_trainxx,1,11,train\n")
  _write(tmp_path / "a.json", json.dumps({"database": {
      y: {"annotations": {"label": lb, "segment": [a, b]}, "subset": "test"}
      for lb, y, a, b in clips}}))
  want = {y: {"label": lb, "segment": (float(a), float(b)), "subset": "test"}
          for lb, y, a, b in clips}
  assert kinetics.load_annotations(str(tmp_path / "a.json")) == want
  # The other split's row goes only when a split is asked for.
  assert kinetics.load_annotations(str(tmp_path / "test.csv"), "test") == want
  assert len(kinetics.load_annotations(str(tmp_path / "test.csv"))) == 6
  # Extra columns (the first release's is_cc) are ignored; a BOM is not part of a name.
  _write(tmp_path / "b.csv", "\ufefflabel,youtube_id,time_start,time_end,split,is_cc\n"
         "zumba,vid_aaaaaaa,10,20,val,0\n")
  assert kinetics.load_annotations(str(tmp_path / "b.csv"), "val") == {
      "vid_aaaaaaa": {"label": "zumba", "segment": (10.0, 20.0), "subset": "val"}}


def test_kinetics_finds_split_named_and_single_files(tmp_path):
  _kinetics(tmp_path, "csv")
  os.rename(tmp_path / "annotations" / "test.csv", tmp_path / "kinetics_400_test.csv")
  ds = kinetics.kinetics400(str(tmp_path))
  assert ds.info["annotation"] == str(tmp_path / "kinetics_400_test.csv")
  assert ds.info["num_annotated_clips"] == 4
  # One file for all splits: only the asked split's rows count.
  os.remove(tmp_path / "kinetics_400_test.csv")
  _write(tmp_path / "kinetics400.csv",
         _kinetics_csv(KINETICS_CLIPS) + "bowling,vid_ddddddd,1,11,train\n")
  ds = kinetics.kinetics400(str(tmp_path))
  assert ds.info["num_annotated_clips"] == 4 and ds.info["frames"]["unannotated"] == 1


def test_kinetics_split_and_errors(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)missing \S*images/test\. Expected layout under the dataset "
                           r"folder: images/<split>/<label>/<ytid>_<start:06d>_<end:06d>\.jpg"
                           r" \+ annotations/<split>\.json .* or annotations/<split>\.csv"):
    kinetics.kinetics400(str(tmp_path))
  _kinetics(tmp_path, split="val")
  ds = kinetics.kinetics400(str(tmp_path), split="val")
  assert ds.num_classes == 4 and ds.info["split"] == "val"
  os.remove(tmp_path / "annotations" / "val.json")  # the annotation is optional
  ds = kinetics.kinetics400(str(tmp_path), split="val")
  assert ds.info["annotation"] is None and len(ds.examples) == 4
  # The unlabelled test list of the first release (no label column).
  _write(tmp_path / "annotations" / "val.csv",
         "youtube_id,time_start,time_end,split\nvid_aaaaaaa,10,20,val\n")
  with pytest.raises(ValueError, match=r"(?s)val\.csv lacks columns \['label'\].*unlabelled"):
    kinetics.kinetics400(str(tmp_path), split="val")
  _write(tmp_path / "annotations" / "val.csv", f"{KINETICS_CSV_HEADER}\nzumba,vid_a,ten,20,val\n")
  with pytest.raises(ValueError, match=r"val\.csv line 2: time_start / time_end"):
    kinetics.kinetics400(str(tmp_path), split="val")
  os.remove(tmp_path / "annotations" / "val.csv")
  _write(tmp_path / "annotations" / "val.json", "label,youtube_id\n")
  with pytest.raises(ValueError, match=r"val\.json is not valid JSON.*label,youtube_id"):
    kinetics.kinetics400(str(tmp_path), split="val")


def _write_video(path, colors, fps=10, size=(64, 48)):
  import av  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with av.open(str(path), mode="w") as container:
    stream = container.add_stream("mpeg4", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    for color in colors:  # one second per colour
      for _ in range(fps):
        arr = np.empty((size[1], size[0], 3), np.uint8)
        arr[...] = color
        for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
          container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


def _color_of(path):
  mean = np.asarray(Image.open(path).convert("RGB"), np.float64).reshape(-1, 3).mean(0)
  return (RED, GREEN, BLUE)[int(np.argmax(mean))], mean


def test_kinetics_frames_middle_frame(tmp_path):
  videos = tmp_path / "videos"
  _write_video(videos / "full_aaaaaa.mp4", [RED, GREEN, BLUE])
  _write_video(videos / "sub" / "clip_bbbbbb_000010_000013.mp4", [RED, GREEN, BLUE])
  _write_video(videos / "late_cccccc.mp4", [RED, GREEN, BLUE])
  _write_video(videos / "short_dddddd.mp4", [RED, GREEN, BLUE])
  anno = {"database": {
      "full_aaaaaa": {"annotations": {"label": "waving", "segment": [0, 3]}},  # 1.5 s: green
      "clip_bbbbbb": {"annotations": {"label": "clapping", "segment": [10, 13]}},  # trimmed
      "late_cccccc": {"annotations": {"label": "waving", "segment": [2, 3]}},  # 2.5 s: blue
      "short_dddddd": {"annotations": {"label": "waving", "segment": [10, 20]}},  # too short
      "absent_eeeeee": {"annotations": {"label": "waving", "segment": [0, 10]}},
  }}
  anno_path = tmp_path / "test.json"
  _write(anno_path, json.dumps(anno))
  out = tmp_path / "kinetics400"
  result = kinetics_frames.extract_middle_frames(str(videos), str(anno_path), str(out))
  assert (result["written"], result["missing"], result["failed"]) == (3, 1, 1)
  assert result["trimmed"] == 1 and result["failures"][0][0] == "short_dddddd"
  images = out / "images" / "test"
  for rel, want in (("waving/full_aaaaaa_000000_000003.jpg", GREEN),
                    ("clapping/clip_bbbbbb_000010_000013.jpg", GREEN),
                    ("waving/late_cccccc_000002_000003.jpg", BLUE)):
    color, mean = _color_of(images / rel)
    assert color == want, (rel, mean)
  again = kinetics_frames.extract_middle_frames(str(videos), anno, str(out))
  assert again["existing"] == 3 and again["written"] == 0

  # The same clips as the CVDF mirror's CSV give the same frames, byte for byte.
  csv_path = tmp_path / "test.csv"
  _write(csv_path, _kinetics_csv([(e["annotations"]["label"], y, *e["annotations"]["segment"])
                                  for y, e in anno["database"].items()]))
  out_csv = tmp_path / "from_csv"
  result_csv = kinetics_frames.extract_middle_frames(str(videos), str(csv_path), str(out_csv))
  assert {k: v for k, v in result_csv.items() if k != "images_dir"} == {
      k: v for k, v in result.items() if k != "images_dir"}
  written = sorted(p.relative_to(out) for p in out.rglob("*.jpg"))
  assert written == sorted(p.relative_to(out_csv) for p in out_csv.rglob("*.jpg"))
  for rel in written:
    assert (out / rel).read_bytes() == (out_csv / rel).read_bytes()
  assert kinetics_frames.main([f"--videos={videos}", f"--annotations={csv_path}",
                               f"--out={out_csv}", "--subset=val"])["clips"] == 0

  # The reader reads what the tool wrote (annotation next to the images).
  _write(out / "annotations" / "test.json", json.dumps(anno))
  ds = kinetics.kinetics400(str(out))
  assert ds.classnames == ["clapping", "waving"] and ds.labels().tolist() == [0, 1, 1]
  assert ds.load_image(ds.examples[0]).shape == (48, 64, 3)
  assert ds.info["frames"]["annotated"] == 3

  with pytest.raises(FileNotFoundError, match="videos folder"):
    kinetics_frames.extract_middle_frames(str(tmp_path / "nope"), anno, str(out))


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
  _kinetics(tmp_path / "kinetics400")
  _fairface(tmp_path / "fairface")
  _utkface(tmp_path / "utkface")
  _lagenda(tmp_path / "lagenda")
  want = {"stanford40": 3, "kinetics400": 4, "fairface_race": 5, "utkface": 9,
          "lagenda_body": 6, "lagenda_face": 6}
  for name, n in want.items():
    ds = eval_datasets.load(name, str(tmp_path))
    assert ds.name == name and len(ds.examples) == n, name
  paper = eval_datasets.load("stanford40", str(tmp_path), paper_protocol=True)
  assert paper.info["prompt_permutation"] is not None
  fixed = eval_datasets.load("fairface_race", str(tmp_path), fixed_grammar=True)
  assert fixed.prompts[1] == ["a photo of an east asian person"]
  assert len(eval_datasets.load("fairface_race", str(tmp_path), split="train").examples) == 1
