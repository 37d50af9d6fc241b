"""MPII Pose Descriptions: the TFDS builder on a fake manual directory, and the pipeline on it."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from input_pipeline import heatmaps as hm
from input_pipeline import mpii
from input_pipeline import pipeline
from input_pipeline import prepare
from input_pipeline.mpii_pose_descriptions import mpii_pose_descriptions_dataset_builder as mb
from tests import mpii_fixture
from tests.heatmap_reference import reference_heatmap
from tests.helpers import tiny


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, minilm_dir):
  root = tmp_path_factory.mktemp("mpii")
  expected = mpii_fixture.make_manual_dir(str(root / "manual"), num_good_train=4, num_val=8)
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
  assert list(ex["original_size"]) == [mpii_fixture.H, mpii_fixture.W]
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


def _stored_people(root, expected):
  """{image: (keypoints [P,16,2] float32, visibility [P,16] int32)} the builder should store,
  read straight from the gpt-4 train file (the fixture says which people are dropped)."""
  with open(os.path.join(root, "manual", "descriptions", "gpt-4-0613", "train.json")) as f:
    records = json.load(f)
  out = {}
  for r in records:
    keep, invalid = expected["people"].get(r["image"], (range(len(r["people"])), set()))
    kpts = np.array([r["people"][i]["kpts"] for i in keep], np.float32).reshape(-1, 16, 2)
    vis = np.array([r["people"][i]["kpts_vis"] for i in keep], np.int32).reshape(-1, 16)
    for p, j in invalid:
      kpts[p, j], vis[p, j] = -1.0, 0
    out[r["image"]] = kpts, vis
  return out


@pytest.mark.parametrize("variant", ["gpt-4", "gpt-4-224px"])
def test_stored_keypoints_and_heatmaps_by_value(prepared, variant):
  root, _, expected, builders = prepared
  want = _stored_people(root, expected)
  h, w = mpii_fixture.H, mpii_fixture.W
  examples = list(tfds.as_numpy(builders[variant].as_dataset(split="train")))
  assert len(examples) == expected["train"]
  for ex in examples:
    name = ex["image_name"].decode()
    kpts, vis = want[name]
    # Exactly the file's joints, in the file's order, x before y; visibility is kpts_vis.
    np.testing.assert_array_equal(ex["keypoints"], kpts)
    np.testing.assert_array_equal(ex["visibility"], vis)
    # Independent expectation: the per-pixel port of the reference (sigma floored at 1 px as
    # the builder's min_sigma), written as the reference writes it: mask * 255 -> uint8.
    ref_u8 = (reference_heatmap(kpts, vis, h, w, min_sigma=1.0) * 255).astype(np.uint8)
    if variant == "gpt-4":
      heat = ex["heatmap"][..., 0].astype(int)
      assert heat.shape == (h, w) and heat.max() == 255  # every kept record has a part centre
      # uint8 truncation of float32 vs float64 maps: at most one level apart.
      assert np.abs(heat - ref_u8).max() <= 1
      ours = hm.heatmap_numpy(kpts, vis, h, w, fidelity=True)
      np.testing.assert_array_equal(heat, (ours * 255).astype(np.uint8))
    else:
      # The reference's input: its uint8 PNG resized with PIL bilinear (as the image).
      want_224 = np.asarray(Image.fromarray(ref_u8).resize((224, 224), Image.BILINEAR))
      assert np.abs(ex["heatmap"][..., 0].astype(int) - want_224).max() <= 1
      # Fast: evaluated at 224 on the keypoints mapped to 224-pixel centres, float box.
      scaled = (kpts.astype(np.float64) + 0.5) * np.array([224 / w, 224 / h]) - 0.5
      fast = reference_heatmap(scaled, vis, 224, 224, min_sigma=1.0, integer=False)
      assert np.abs(ex["heatmap_fast"][..., 0].astype(int) - np.round(fast * 255)).max() <= 1
  # The joints past the image edges (kpts_vis 1) are drawn: a rule "visible and x, y >= 0"
  # gives a visibly different map (so the checks above would catch it) ...
  names = [ex["image_name"].decode() for ex in examples]
  kpts, vis = want["000000105.jpg"]
  one_sided = vis * (kpts >= 0).all(-1)
  assert vis.sum() - one_sided.sum() == 2  # the head top and the left wrist
  assert np.abs(reference_heatmap(kpts, one_sided, h, w, min_sigma=1.0) -
                reference_heatmap(kpts, vis, h, w, min_sigma=1.0)).max() > 0.2
  # ... and the record drawable only through the head top above the image is kept.
  assert "000000106.jpg" in names and "000000108.jpg" not in names


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


def test_bad_description_files_name_the_file_and_the_fix(tmp_path):
  good = json.dumps({"image": "a.jpg", "description": "x"})
  cases = {
      # One document with a syntax error (a trailing comma), as a truncated edit leaves it.
      "trailing_comma.json": ('[{"image": "000001163.jpg", "activity": "x", }]',
                              ["not valid JSON", "Expecting property name", "line 1 column"]),
      "pretty.json": ('[\n  {"image": "a.jpg",\n   "description": "x"\n  ,]\n',
                      ["not valid JSON", "line 4 column"]),
      "lines.json": (f"{good}\n{good}\n{{\"image\": \"c.jpg\" \"description\"}}\n",
                     ["not valid JSON lines", "line 3"]),
      "empty.json": ("", ["empty"]),
      "blank.json": ("\n  \n", ["empty"]),
      "no_records.json": ("[]", ["no records"]),
      "not_records.json": ('["a.jpg", "b.jpg"]', ["record 0 is str"]),
      "scalar.json": ("42", ["expected a JSON list"]),
  }
  for fname, (text, parts) in cases.items():
    path = tmp_path / fname
    path.write_text(text)
    with pytest.raises(ValueError) as e:
      mb.load_records(str(path))
    msg = str(e.value)
    for part in [str(path), "re-download", *parts]:
      assert part in msg, (fname, msg)


@pytest.mark.parametrize("problem", ["malformed", "empty", "nothing_usable"])
def test_preparation_stops_naming_the_bad_file(tmp_path, minilm_dir, problem):
  manual = str(tmp_path / "manual")
  mpii_fixture.make_manual_dir(manual, num_good_train=1, num_val=1)
  bad = os.path.join(manual, "descriptions", "gpt-4-0613", "train.json")
  text = {"malformed": '[{"image": "x.jpg",, "description": "y"}]', "empty": "",
          "nothing_usable": json.dumps([{"image": "missing.jpg", "description": "y"}])}[problem]
  with open(bad, "w") as f:
    f.write(text)
  with pytest.raises(ValueError) as e:
    prepare.prepare(manual, "gpt-4-224px", str(tmp_path / "tfds"), tokenizer=minilm_dir)
  assert bad in str(e.value)
  assert {"malformed": "not valid JSON", "empty": "empty",
          "nothing_usable": "no usable example"}[problem] in str(e.value)


def test_broken_people_are_dropped_and_counted():
  person = mpii_fixture._person(np.random.default_rng(0))  # pylint: disable=protected-access

  def parse(*people):
    counts = {k: 0 for k in mb.records_lib.PERSON_COUNTERS}
    return mb.parse_people({"people": list(people)}, counts), counts

  def variant(**changes):
    p = json.loads(json.dumps(person))
    p.update(changes)
    return p

  got, counts = parse(person)
  assert len(got) == 1 and not any(counts.values())
  np.testing.assert_array_equal(got.kpts[0], np.float32(person["kpts"]))
  no_kpts = variant()
  del no_kpts["kpts"]
  bad = [no_kpts, variant(kpts_vis=None), variant(kpts=person["kpts"][:15]),
         variant(kpts_vis=person["kpts_vis"][:15]), variant(kpts=[["a", 1]] * 16),
         variant(center=[1.0]), variant(scale="big"), "not a person"]
  got, counts = parse(person, *bad)
  assert len(got) == 1 and counts == {"person_without_keypoints": 2, "person_malformed": 6,
                                      "joint_invalid_coordinate": 0, "person_outside_image": 0}
  # Non-finite (or overflowing) coordinates: the joint becomes unannotated, the person stays.
  kpts = [list(k) for k in person["kpts"]]
  kpts[9][0], kpts[0][1], kpts[3][0] = float("nan"), float("-inf"), 1e300
  got, counts = parse(variant(kpts=kpts))
  assert counts["joint_invalid_coordinate"] == 3 and len(got) == 1
  np.testing.assert_array_equal(got.kpts[0, [9, 0, 3]], -1.0)
  np.testing.assert_array_equal(got.vis[0, [9, 0, 3]], 0)
  assert got.vis[0].sum() == 13 and np.isfinite(got.kpts).all()
  assert np.isfinite(hm.heatmap_for_image(got.kpts, got.vis, (64, 96), (32, 32))).all()
  # Outside the image: dropped; a joint slightly outside (kpts_vis 1): kept.
  far = variant(kpts=[[x + 200.0, y] for x, y in person["kpts"]])
  edge = variant(kpts=[[x, -0.78] if j == 9 else [x, y]
                       for j, (x, y) in enumerate(person["kpts"])])
  got, counts = parse(far, edge, person)
  got = mb.records_lib.drop_people_outside(got, 64, 96, counts)
  assert counts["person_outside_image"] == 1 and len(got) == 2
  assert got.kpts[0, 9, 1] == np.float32(-0.78) and got.vis[0, 9] == 1


def test_no_stored_heatmap_comes_from_nan():
  heat = np.array([[0.0, 0.5, 1.0]], np.float32)
  np.testing.assert_array_equal(mb._quantise(heat, "a.jpg", floor=True), [[0, 127, 255]])  # pylint: disable=protected-access
  np.testing.assert_array_equal(mb._quantise(heat, "a.jpg", floor=False), [[0, 128, 255]])  # pylint: disable=protected-access
  for bad in (np.nan, np.inf):
    heat[0, 1] = bad
    with pytest.raises(RuntimeError, match="a.jpg: the heatmap has non-finite values"):
      mb._quantise(heat, "a.jpg", floor=True)  # pylint: disable=protected-access


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
  root, _, expected, _ = prepared
  with pytest.raises(ValueError, match="full-resolution config"):
    pipeline.create_datasets(_config(prepared, minilm_dir, **{"data.resize": "center_crop"}))
  base = {"data.builder_config": "gpt-4", "data.resize": "center_crop", "train.batch_size": 8,
          "model.image.image_size": 32, "model.image.variant": "tiny/8"}
  fid = _first_batch(_config(prepared, minilm_dir, **base))
  fast = _first_batch(_config(prepared, minilm_dir, **base, **{"data.heatmap_mode": "fast"}))
  assert fid["image"].shape == (8, 32, 32, 3)
  np.testing.assert_array_equal(fid["image"], fast["image"])
  # The on-the-fly fast heatmap is the fast-mode definition on the keypoints mapped through
  # the resize (96 x 64 -> 48 x 32, pixel-centre convention) and the crop (x - 8), exactly.
  want = _stored_people(root, expected)
  by_id = {int(tf.strings.to_hash_bucket_fast(n, 2**62)): n for n in want}
  for i, heat in zip(fast["id"], fast["heatmap"]):
    kpts, vis = want[by_id[int(i)]]
    mapped = (kpts.astype(np.float64) + 0.5) * 0.5 - 0.5 - np.array([8.0, 0.0])
    np.testing.assert_allclose(
        heat[..., 0], reference_heatmap(mapped, vis, 32, 32, min_sigma=1.0, integer=False),
        atol=1e-5)
  # It lands where the stored reference heatmap (resized and cropped like the image) is:
  # mean |fidelity - fast| measured 0.043 on this data (the modes differ at blobs of 1-3 px,
  # see input_pipeline/heatmaps.py), 0.35 against another image's heatmap.
  assert np.abs(fid["heatmap"] - fast["heatmap"]).mean() < 0.047
  assert np.abs(fid["heatmap"] - np.roll(fast["heatmap"], 1, axis=0)).mean() > 0.25
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
