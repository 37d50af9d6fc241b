"""MPII Pose Descriptions: the TFDS builder on a fake manual directory, and the pipeline on it."""

import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from input_pipeline import mpii
from input_pipeline import pipeline
from input_pipeline import prepare
from input_pipeline.mpii_pose_descriptions import mpii_pose_descriptions_dataset_builder as mb
from tests import mpii_fixture
from tests.helpers import tiny


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, minilm_dir):
  root = tmp_path_factory.mktemp("mpii")
  expected = mpii_fixture.make_manual_dir(str(root / "manual"), num_good_train=7, num_val=8)
  data_dir = str(root / "tfds")
  builders = {name: prepare.prepare(str(root / "manual"), name, data_dir, tokenizer=minilm_dir)
              for name in ("gpt-4-224px", "gpt-4", "all-224px")}
  return root, data_dir, expected, builders


def test_split_sizes_and_skip_counts(prepared):
  _, _, expected, builders = prepared
  for builder in builders.values():
    assert builder.info.splits["train"].num_examples == expected["train"]
    assert builder.info.splits["validation"].num_examples == expected["validation"]
  b = builders["gpt-4-224px"]
  assert b.info.metadata["skipped"]["train"] == expected["skipped_train"]
  assert sum(b.info.metadata["skipped"]["validation"].values()) == 0
  # The metadata survives a reload from disk.
  again = tfds.builder("mpii_pose_descriptions/gpt-4-224px", data_dir=prepared[1])
  assert again.info.metadata["skipped"]["train"] == expected["skipped_train"]


def test_examples_content(prepared, minilm_dir):
  root, _, _, builders = prepared
  ds = builders["gpt-4-224px"].as_dataset(split="train")
  examples = {ex["image_name"].decode(): ex for ex in tfds.as_numpy(ds)}
  assert "000000100.jpg" in examples  # the degenerate record is kept ...
  assert np.all(np.isfinite(examples["000000100.jpg"]["heatmap"]))
  assert examples["000000100.jpg"]["heatmap"].max() > 0  # ... with a finite, non-empty blob
  for bad in ("000000101.jpg", "000000102.jpg", "000000103.jpg", "000000104.jpg"):
    assert bad not in examples
  ex = examples["000000000.jpg"]
  assert ex["image"].shape == (224, 224, 3) and ex["image"].dtype == np.uint8
  assert ex["heatmap"].shape == (224, 224, 1) and ex["heatmap_fast"].shape == (224, 224, 1)
  assert ex["heatmap"].max() == 255  # peak 1 survives the resize at a part centre
  assert list(ex["original_size"]) == [mpii_fixture.H, mpii_fixture.W]
  assert ex["keypoints"].shape == (1, 16, 2) and ex["visibility"].sum() == 16
  assert [d.decode() for d in ex["descriptions"]] == ["There is a person running, number 0."]
  assert ex["activity"].decode() == "sports, running" and ex["activity_id"] == 7
  # The image is the reference's input: PIL bilinear squash-resize of the JPEG to 224.
  ref = np.asarray(Image.open(os.path.join(root, "manual", "images", "000000000.jpg"))
                   .convert("RGB").resize((224, 224), Image.BILINEAR))
  np.testing.assert_array_equal(ex["image"], ref)
  # Token ids: the canonical tokenizer at 512.
  from input_pipeline.tokenizer import tokenize  # pylint: disable=g-import-not-at-top
  ids, _ = tokenize(["There is a person running, number 0."], minilm_dir, 512)
  np.testing.assert_array_equal(ex["text_ids"], ids)


def test_full_resolution_variant(prepared):
  root, _, _, builders = prepared
  ds = builders["gpt-4"].as_dataset(split="train")
  ex = next(ex for ex in tfds.as_numpy(ds) if ex["image_name"] == b"000000000.jpg")
  assert ex["image"].shape == (mpii_fixture.H, mpii_fixture.W, 3)
  assert ex["heatmap"].shape == (mpii_fixture.H, mpii_fixture.W, 1)
  # The stored JPEG bytes are the original file (no re-encoding).
  raw = builders["gpt-4"].as_dataset(split="train",
                                     decoders={"image": tfds.decode.SkipDecoding()})
  stored = next(e["image"] for e in tfds.as_numpy(raw) if e["image_name"] == b"000000000.jpg")
  with open(os.path.join(root, "manual", "images", "000000000.jpg"), "rb") as f:
    assert stored == f.read()


def test_all_config_keeps_every_description(prepared):
  ds = prepared[3]["all-224px"].as_dataset(split="train")
  ex = next(ex for ex in tfds.as_numpy(ds) if ex["image_name"] == b"000000001.jpg")
  assert [d.decode() for d in ex["descriptions"]] == [
      "There is a person running, number 1.", "A GPT-3.5 description 1."]
  assert [s.decode() for s in ex["description_sources"]] == ["gpt-4-0613", "gpt-3.5-turbo-0613"]
  assert ex["text_ids"].shape == (2, 512)


def test_missing_files_are_listed(tmp_path):
  (tmp_path / "descriptions" / "gpt-4-0613").mkdir(parents=True)
  with pytest.raises(FileNotFoundError) as e:
    mb.check_manual_dir(str(tmp_path), "gpt-4")
  msg = str(e.value)
  assert f"images directory {tmp_path}/images" in msg
  assert "gpt-4-0613/train.json" in msg and "gpt-3.5-turbo-0613/val.json" in msg
  assert "mpii_human_pose_v1.tar.gz" in msg  # the instructions name the sources


def test_records_file_formats(tmp_path):
  recs = [{"image": "a.jpg", "description": "x"}, {"image": "b.jpg", "description": "y"}]
  (tmp_path / "list.json").write_text(json.dumps(recs))
  (tmp_path / "dict.json").write_text(json.dumps({"a.jpg": {"description": "x"},
                                                  "b.jpg": {"description": "y"}}))
  (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in recs))
  for f in ("list.json", "dict.json", "lines.json"):
    got = mb.load_records(str(tmp_path / f))
    assert [(r["image"], r["description"]) for r in got] == [("a.jpg", "x"), ("b.jpg", "y")]


def _config(prepared, minilm_dir, **kw):
  return tiny(**{"data.dataset": "mpii_pose_descriptions", "data.data_dir": prepared[1],
                 "model.image.image_size": 224, "model.image.variant": "tiny/16",
                 "model.text.tokenizer": minilm_dir, "train.batch_size": 2, **kw})


def test_pipeline_batches(prepared, minilm_dir):
  for variant in ("gpt-4-224px", "gpt-4"):
    for mode in ("fidelity", "fast"):
      config = _config(prepared, minilm_dir, **{"data.builder_config": variant,
                                                "data.heatmap_mode": mode})
      ds = pipeline.create_datasets(config)
      assert ds.num_train_examples == 8 and ds.steps_per_epoch == 4
      b = next(ds.train_iter(0))
      assert b["image"].shape == (2, 224, 224, 3) and b["image"].dtype == np.float32
      assert b["heatmap"].shape == (2, 224, 224, 1) and b["heatmap"].dtype == np.float32
      assert 0 <= b["image"].min() and b["image"].max() <= 1
      assert 0 <= b["heatmap"].min() and b["heatmap"].max() <= 1 and b["heatmap"].max() > 0.5
      assert b["text_ids"].shape == (2, 16) and b["text_ids"].dtype == np.int32
      assert b["text_mask"].shape == (2, 16)
      assert (b["text_ids"][:, 0] == 101).all()


def test_truncation_matches_the_tokenizer(minilm_dir):
  from input_pipeline.tokenizer import tokenize  # pylint: disable=g-import-not-at-top
  texts = ["a photo of a person riding a horse on the beach at sunset", "short"]
  ids512, _ = tokenize(texts, minilm_dir, 512)
  for L in (4, 8, 13, 16):
    want_ids, want_mask = tokenize(texts, minilm_dir, L)
    for i in range(2):
      ids, mask = mpii.truncate_ids(ids512[i], L)
      np.testing.assert_array_equal(ids, want_ids[i])
      np.testing.assert_array_equal(mask, want_mask[i])


def test_not_prepared_names_the_command(tmp_path, minilm_dir):
  config = tiny(**{"data.dataset": "mpii_pose_descriptions", "data.data_dir": str(tmp_path),
                   "data.manual_dir": "/data/mpii"})
  with pytest.raises(FileNotFoundError, match="python -m input_pipeline.prepare "
                     "--manual_dir=/data/mpii --config=gpt-4-224px"):
    pipeline.create_datasets(config)


def test_min_sigma_mismatch_is_an_error(prepared, minilm_dir):
  config = _config(prepared, minilm_dir, **{"data.heatmap_min_sigma": 2.0})
  with pytest.raises(ValueError, match="min_sigma"):
    pipeline.create_datasets(config)


def test_random_description_changes_with_epoch_deterministically(prepared, minilm_dir):
  config = _config(prepared, minilm_dir, **{"data.builder_config": "all-224px",
                                            "data.description_choice": "random",
                                            "train.batch_size": 8})
  ds = pipeline.create_datasets(config)
  first = [next(ds.train_iter(e)) for e in range(4)]  # one batch = one epoch
  again = [next(ds.train_iter(e)) for e in range(4)]
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a["text_ids"], b["text_ids"])
  by_id = {}
  for b in first:
    for i, ids in zip(b["id"], b["text_ids"]):
      by_id.setdefault(int(i), set()).add(tuple(ids))
  assert any(len(v) > 1 for v in by_id.values())  # some image got another description


def test_train_loop_on_prepared_data(prepared, minilm_dir, tmp_path):
  from focusclip_jax import train  # pylint: disable=g-import-not-at-top
  from tests.helpers import read_scalars  # pylint: disable=g-import-not-at-top
  config = tiny(**{"data.dataset": "mpii_pose_descriptions", "data.data_dir": prepared[1],
                   "data.builder_config": "gpt-4", "model.text.tokenizer": minilm_dir,
                   "train.batch_size": 8, "train.num_steps": 2})
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2
  assert sorted(read_scalars(tmp_path, "train/loss")) == [1, 2]
  assert 2 in read_scalars(tmp_path, "val/loss")


def _first_batch(config, start=0):
  return next(pipeline.create_datasets(config).train_iter(start))


def test_center_crop_resize(prepared, minilm_dir):
  with pytest.raises(ValueError, match="full-resolution config"):
    pipeline.create_datasets(_config(prepared, minilm_dir, **{"data.resize": "center_crop"}))
  base = {"data.builder_config": "gpt-4", "data.resize": "center_crop", "train.batch_size": 8,
          "model.image.image_size": 32, "model.image.variant": "tiny/8"}
  fid = _first_batch(_config(prepared, minilm_dir, **base))
  fast = _first_batch(_config(prepared, minilm_dir, **base, **{"data.heatmap_mode": "fast"}))
  assert fid["image"].shape == (8, 32, 32, 3)
  np.testing.assert_array_equal(fid["image"], fast["image"])
  # The on-the-fly fast heatmap (keypoints mapped through the crop) lands where the stored
  # reference heatmap (resized and cropped like the image) is.
  assert np.abs(fid["heatmap"] - fast["heatmap"]).mean() < 0.05
  # 96 x 64 -> 48 x 32 -> central 32 x 32: the crop keeps the middle columns of the squash.
  squash = _first_batch(_config(prepared, minilm_dir, **{**base, "data.resize": "squash"}))
  assert not np.allclose(squash["image"], fid["image"])


def test_hflip_flips_image_heatmap_and_left_right_words(prepared, minilm_dir):
  base = {"train.batch_size": 8}
  plain = _first_batch(_config(prepared, minilm_dir, **base))
  flip = _first_batch(_config(prepared, minilm_dir, **base, **{"data.augment.hflip": True}))
  np.testing.assert_array_equal(plain["id"], flip["id"])  # same order: only the content changes
  flipped = [np.allclose(f, p[:, ::-1]) and not np.allclose(f, p)
             for f, p in zip(flip["image"], plain["image"])]
  kept = [np.array_equal(f, p) for f, p in zip(flip["image"], plain["image"])]
  assert all(a or b for a, b in zip(flipped, kept)) and any(flipped) and any(kept)
  from input_pipeline.tokenizer import get_tokenizer  # pylint: disable=g-import-not-at-top
  tok = get_tokenizer(minilm_dir, 16)
  for i, was_flipped in enumerate(flipped):
    if was_flipped:
      np.testing.assert_allclose(flip["heatmap"][i], plain["heatmap"][i][:, ::-1])
    text = tok.decode(flip["text_ids"][i])
    if "raises" in text:
      want = "right arm above the left" if was_flipped else "left arm above the right"
      assert want in text, text
  again = _first_batch(_config(prepared, minilm_dir, **base, **{"data.augment.hflip": True}))
  np.testing.assert_array_equal(again["image"], flip["image"])  # a function of (seed, epoch)


def test_random_resized_crop_is_joint_and_resumable(prepared, minilm_dir):
  cfg = _config(prepared, minilm_dir, **{"train.batch_size": 8,
                                         "data.augment.random_resized_crop": True,
                                         "data.augment.crop_area": (0.3, 0.5)})
  plain = _first_batch(_config(prepared, minilm_dir, **{"train.batch_size": 8}))
  ds = pipeline.create_datasets(cfg)
  it = ds.train_iter(0)
  batches = [next(it) for _ in range(3)]
  assert batches[0]["image"].shape == (8, 224, 224, 3)
  assert not np.allclose(batches[0]["image"], plain["image"])
  # Resuming at step 2 reproduces the crops of step 2.
  np.testing.assert_array_equal(next(ds.train_iter(2))["image"], batches[2]["image"])
  # Image and heatmap are cut with the same box: a full-area crop is the identity for both.
  full = _first_batch(_config(prepared, minilm_dir, **{
      "train.batch_size": 8, "data.augment.random_resized_crop": True,
      "data.augment.crop_area": (1.0, 1.0), "data.augment.crop_aspect_ratio": (1.0, 1.0)}))
  np.testing.assert_allclose(full["heatmap"], plain["heatmap"], atol=1e-6)
  np.testing.assert_allclose(full["image"], plain["image"], atol=1e-6)
