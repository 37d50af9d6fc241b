"""The Kinetics frame extractor (focusclip_tools/kinetics_frames.py) on tiny synthetic videos,
from both distributed formats of the clip list; the reader reads what it writes."""

from __future__ import annotations

import json
import os

import av  # PyAV (requirements.txt), needed by the tool under test
import numpy as np
import pytest
from PIL import Image

from focusclip_tools import kinetics_frames
from input_pipeline.eval_datasets import kinetics
from tests.test_eval_datasets_a import _write
from tests.test_eval_kinetics import _kinetics_csv


def _write_video(path, colors, fps=10, size=(64, 48)):
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
