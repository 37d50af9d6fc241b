"""Kinetics-400 reader on tiny datasets in both distributed formats of the
clip list (ActivityNet-style JSON, the CVDF mirror's CSV)."""

from __future__ import annotations

import json
import os

import pytest

from input_pipeline import eval_datasets
from input_pipeline.eval_datasets import kinetics
from tests.test_eval_datasets_a import _jpg
from tests.test_eval_datasets_a import _write


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


def test_load_by_name(tmp_path):
  _kinetics(tmp_path / "kinetics400", "csv")
  ds = eval_datasets.load("kinetics400", str(tmp_path))
  assert ds.name == "kinetics400" and len(ds.examples) == 4
  assert ds.info["annotation_format"] == "csv"
