"""TFDS builder for MPII Pose Descriptions: MPII images + LLM pose descriptions + heatmaps.

Build (manual download, see MANUAL_DOWNLOAD_INSTRUCTIONS):
  python -m input_pipeline.prepare --manual_dir=/data/mpii --config=gpt-4-224px
  tfds build input_pipeline/mpii_pose_descriptions --manual_dir=/data/mpii --config=gpt-4-224px

Every example holds the image, the person heatmap computed at preparation time
(docs/method.md §2), the MPII keypoints (+ visibility, centre, scale) of the annotated people,
the activity, the description(s) and their token ids (bert-base-uncased, padded to 512; the
pipeline derives any shorter length exactly).

Configs: one per description source (the LLM subsets of the released dataset), each at full
resolution (``<name>``: original JPEG bytes, heatmap at original resolution) and at model
resolution (``<name>-224px``: image and heatmaps already resized to 224 x 224 with PIL's
bilinear filter, exactly the reference's ``Resize((224, 224))`` input, so an epoch reads
small records and decodes nothing large).

  gpt-4                 train: GPT-4 (gpt-4-0613); validation: GPT-3.5-turbo-0613 (as the
                        reference, which has no GPT-4 validation file). The paper's data.
  gpt-3.5-turbo         gpt-3.5-turbo-0613 train / val
  gpt-3.5-turbo-legacy  gpt-3.5-turbo-0301 train / val
  llama-2               llama-2-70b-chat-hf train / val
  all                   every available description of each image (``descriptions``)

Keypoints are stored as in the files (x, y in original pixels, unannotated joints [-1, -1]);
visibility is ``kpts_vis`` alone, so an annotated joint slightly outside the image stays
visible and its parts are drawn clipped to the image.

Bad annotations never stop preparation and never become heatmap content: missing or unreadable
images, records without a description, and records without any body part with >= 2 visible
joints are skipped; people without keypoints, malformed people, people outside the image and
invalid joint coordinates are dropped (``records.py`` defines each). All are counted per split;
the counts are logged at the end and stored in the dataset metadata
(``info.metadata['skipped']``: record counters, then the ``person_*``/``joint_*`` counters).
A description file that is not JSON or holds no records stops preparation with an error naming
the file, and so does a split left with no usable example.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from input_pipeline import heatmaps as heatmaps_lib
from input_pipeline import tokenizer as tokenizer_lib
from input_pipeline.mpii_joints import NUM_JOINTS
from input_pipeline.mpii_pose_descriptions import records as records_lib
from input_pipeline.mpii_pose_descriptions.records import has_body_part
from input_pipeline.mpii_pose_descriptions.records import load_records  # noqa: F401  (re-export)
from input_pipeline.mpii_pose_descriptions.records import merge_records
from input_pipeline.mpii_pose_descriptions.records import parse_people

# Folder names of the released description sets (Hugging Face dataset
# saifkhichi96/mpii-human-pose-captions), by TFDS config name.
LLM_FOLDERS = {
    "gpt-4": "gpt-4-0613",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-legacy": "gpt-3.5-turbo-0301",
    "llama-2": "llama-2-70b-chat-hf",
}
MAX_TOKENS = 512  # stored token ids; shorter lengths are derived in the pipeline

MANUAL_DOWNLOAD_INSTRUCTIONS = """
Put two things under the manual directory (--manual_dir):

1. images/  -- the MPII Human Pose images (*.jpg), from mpii_human_pose_v1.tar.gz at
   https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/software-and-datasets/mpii-human-pose-dataset/download
   (extract it; the archive contains images/).
2. descriptions/  -- the MPII Pose Descriptions JSON files, one folder per LLM, as released at
   https://huggingface.co/datasets/saifkhichi96/mpii-human-pose-captions :
     descriptions/gpt-4-0613/train.json
     descriptions/gpt-3.5-turbo-0613/train.json, val.json
     descriptions/gpt-3.5-turbo-0301/train.json, val.json
     descriptions/llama-2-70b-chat-hf/train.json, val.json
   (the folders may also sit directly in the manual directory). Each file holds per-image
   records: image, activity, activity_id, count, people [{id, center, scale, kpts (16 x [x, y]),
   kpts_vis (16)}], istrain, description.

Result:
  <manual_dir>/images/000001163.jpg ...
  <manual_dir>/descriptions/gpt-4-0613/train.json ...
"""


@dataclasses.dataclass
class MpiiConfig(tfds.core.BuilderConfig):
  """source: LLM config name (or 'all'); image_size: None = original resolution."""

  source: str = "gpt-4"
  image_size: int | None = None


DEFAULT_TOKENIZER = "bert-base-uncased"
DEFAULT_MIN_SIGMA = 1.0  # heatmap sigma floor in pixels (fixes the reference's NaN stripe)


def _configs():
  out = []
  for source in list(LLM_FOLDERS) + ["all"]:
    for size in (None, 224):
      name = source if size is None else f"{source}-{size}px"
      what = "every description" if source == "all" else f"{source} descriptions"
      res = "original resolution" if size is None else f"{size} x {size} px"
      out.append(MpiiConfig(name=name, source=source, image_size=size,
                            description=f"MPII images with {what}, {res}."))
  return out


# ------------------------------------------------------------------------- input files


def find_description_dir(manual_dir: str) -> str:
  for cand in (os.path.join(manual_dir, "descriptions"), manual_dir):
    if any(os.path.isdir(os.path.join(cand, f)) for f in LLM_FOLDERS.values()):
      return cand
  return os.path.join(manual_dir, "descriptions")


def split_files(manual_dir: str, source: str) -> dict[str, list[tuple[str, str]]]:
  """{split: [(llm folder, json path)]} for a config source; paths may not exist."""
  desc = find_description_dir(manual_dir)
  if source == "all":
    train = [(f, os.path.join(desc, f, "train.json")) for f in LLM_FOLDERS.values()
             if os.path.exists(os.path.join(desc, f, "train.json"))]
    val = [(f, os.path.join(desc, f, "val.json")) for f in LLM_FOLDERS.values()
           if os.path.exists(os.path.join(desc, f, "val.json"))]
    if not train:
      train = [(LLM_FOLDERS["gpt-4"], os.path.join(desc, LLM_FOLDERS["gpt-4"], "train.json"))]
    return {"train": train, "validation": val}
  folder = LLM_FOLDERS[source]
  # The reference validates GPT-4 training with GPT-3.5-turbo-0613's val.json (no GPT-4 val).
  val_folder = LLM_FOLDERS["gpt-3.5-turbo"] if source == "gpt-4" else folder
  return {"train": [(folder, os.path.join(desc, folder, "train.json"))],
          "validation": [(val_folder, os.path.join(desc, val_folder, "val.json"))]}


def check_manual_dir(manual_dir: str, source: str) -> None:
  """Raises FileNotFoundError listing every missing input and where it was looked for."""
  missing = []
  images = os.path.join(manual_dir, "images")
  if not os.path.isdir(images):
    missing.append(f"images directory {images}")
  for split, files in split_files(manual_dir, source).items():
    for _, path in files:
      if not os.path.exists(path):
        missing.append(f"{split} descriptions {path}")
  if missing:
    raise FileNotFoundError(
        "MPII Pose Descriptions: missing input files:\n  - " + "\n  - ".join(missing) +
        f"\n(manual_dir = {manual_dir})\n" + MANUAL_DOWNLOAD_INSTRUCTIONS)


# ------------------------------------------------------------------------- the builder


class Builder(tfds.core.GeneratorBasedBuilder):
  """MPII Pose Descriptions with precomputed heatmaps."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release.",
      "1.1.0": "Visibility is kpts_vis alone: annotated joints slightly outside the image "
               "(e.g. a head top at y = -0.78) are no longer dropped, so their parts are drawn "
               "(clipped to the image) and such records are no longer skipped. People without "
               "keypoints, malformed people, people outside the image and non-finite joints "
               "are dropped and counted instead of drawn; bad description files are errors "
               "naming the file.",
  }
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = "gpt-4-224px"
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def __init__(self, *, tokenizer: str | None = None, min_sigma: float | None = None,
               **kwargs):
    """tokenizer: hub id or local directory used to pre-tokenize (preparation only);
    min_sigma: heatmap sigma floor in pixels. Both are recorded in ``info.metadata``."""
    self.tokenizer = tokenizer or DEFAULT_TOKENIZER
    self.min_sigma = DEFAULT_MIN_SIGMA if min_sigma is None else float(min_sigma)
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    s = self.builder_config.image_size
    if s is None:
      image = tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg")
      heat = {"heatmap": tfds.features.Image(shape=(None, None, 1), encoding_format="png")}
    else:
      image = tfds.features.Image(shape=(s, s, 3), encoding_format="png")
      heat = {"heatmap": tfds.features.Image(shape=(s, s, 1), encoding_format="png"),
              "heatmap_fast": tfds.features.Image(shape=(s, s, 1), encoding_format="png")}
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": image,
            **heat,
            "image_name": tfds.features.Text(),
            "original_size": tfds.features.Tensor(shape=(2,), dtype=np.int32),
            "keypoints": tfds.features.Tensor(shape=(None, NUM_JOINTS, 2), dtype=np.float32),
            "visibility": tfds.features.Tensor(shape=(None, NUM_JOINTS), dtype=np.int32),
            "centers": tfds.features.Tensor(shape=(None, 2), dtype=np.float32),
            "scales": tfds.features.Tensor(shape=(None,), dtype=np.float32),
            "activity": tfds.features.Text(),
            "activity_id": np.int32,
            "descriptions": tfds.features.Sequence(tfds.features.Text()),
            "description_sources": tfds.features.Sequence(tfds.features.Text()),
            "text_ids": tfds.features.Tensor(shape=(None, MAX_TOKENS), dtype=np.int32),
        }),
        homepage="https://huggingface.co/datasets/saifkhichi96/mpii-human-pose-captions",
        metadata=tfds.core.MetadataDict(),
        citation="""@article{khan2024focusclip,
  title={FocusCLIP: Multimodal Subject-Level Guidance for Zero-Shot Transfer in Human-Centric Tasks},
  author={Khan, Muhammad Saif Ullah and Naeem, Muhammad Ferjad and Tombari, Federico and
          Van Gool, Luc and Stricker, Didier and Afzal, Muhammad Zeshan},
  journal={arXiv preprint arXiv:2403.06904}, year={2024}}""",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    cfg = self.builder_config
    check_manual_dir(manual_dir, cfg.source)
    self.info.metadata["skipped"] = {}
    self.info.metadata["tokenizer"] = self.tokenizer
    self.info.metadata["min_sigma"] = self.min_sigma
    files = split_files(manual_dir, cfg.source)
    # Read (and so check) every description file before TFDS starts writing anything.
    merged = {split: merge_records(paths) for split, paths in files.items() if paths}
    return {split: self._generate_examples(manual_dir, split, files[split], records)
            for split, records in merged.items()}

  def _generate_examples(self, manual_dir: str, split: str, files, merged):
    cfg = self.builder_config
    tok = tokenizer_lib.get_tokenizer(self.tokenizer, MAX_TOKENS)
    skipped = {"missing_image": 0, "unreadable_image": 0, "no_description": 0,
               "no_visible_body_part": 0}
    dropped = {k: 0 for k in records_lib.PERSON_COUNTERS}
    self.info.metadata["skipped"][split] = skipped
    self.info.metadata.setdefault("text_lengths", {})
    lengths = []
    kept = 0
    for name in sorted(merged):
      record, descriptions, sources = merged[name]
      if not descriptions:
        skipped["no_description"] += 1
        continue
      people = parse_people(record, dropped)
      if not has_body_part(people.vis):
        skipped["no_visible_body_part"] += 1
        continue
      path = os.path.join(manual_dir, "images", name)
      if not os.path.exists(path):
        skipped["missing_image"] += 1
        continue
      try:
        with open(path, "rb") as f:
          raw = f.read()
        img = Image.open(io.BytesIO(raw))
        img.load()
        img = img.convert("RGB")
      except Exception as e:  # pylint: disable=broad-except
        logging.warning("Skipping unreadable image %s: %s", path, e)
        skipped["unreadable_image"] += 1
        continue
      w, h = img.size
      people = records_lib.drop_people_outside(people, h, w, dropped)
      if not has_body_part(people.vis):
        skipped["no_visible_body_part"] += 1
        continue
      example = self._images(name, img, raw, people.kpts, people.vis, (h, w))
      ids, mask = tok(descriptions)
      lengths.extend(int(n) for n in np.asarray(mask).sum(axis=1))
      example.update(
          image_name=name,
          original_size=np.array([h, w], np.int32),
          keypoints=people.kpts, visibility=people.vis, centers=people.centers,
          scales=people.scales,
          activity=str(record.get("activity") or ""),
          activity_id=int(record.get("activity_id") if record.get("activity_id") is not None
                          else -1),
          descriptions=descriptions,
          description_sources=sources,
          text_ids=ids,
      )
      kept += 1
      yield name, example
    summary = (f"kept {kept}, skipped {sum(skipped.values())} records {skipped}; dropped "
               f"people/joints {dropped}")
    skipped.update(dropped)
    # Which text attention buckets (config.model.text.attention_buckets) this split needs.
    self.info.metadata["text_lengths"][split] = tokenizer_lib.length_summary(lengths)
    logging.info("MPII Pose Descriptions %s: %s", split, summary)
    print(f"[mpii_pose_descriptions/{cfg.name}] {split}: {summary}")
    if not kept:
      raise ValueError(
          f"MPII Pose Descriptions {split}: no usable example in "
          f"{', '.join(path for _, path in files)} ({summary}). Check that the images are in "
          f"{os.path.join(manual_dir, 'images')} and that the files are the released ones.")

  def _images(self, name: str, img, raw: bytes, kpts, vis, hw) -> dict[str, Any]:
    """Image (+ heatmaps) features; resized with PIL bilinear as the reference's Resize."""
    cfg = self.builder_config
    h, w = hw
    # Reference heatmap: evaluated at the original resolution with its integer arithmetic,
    # written as uint8 (mask * 255, truncated) -- what its PNG files hold.
    ref = heatmaps_lib.heatmap_numpy(kpts, vis, h, w, min_sigma=self.min_sigma, fidelity=True)
    ref_u8 = _quantise(ref, name, floor=True)
    if cfg.image_size is None:
      is_jpeg = raw[:3] == b"\xff\xd8\xff" and img.mode == "RGB"
      return {"image": io.BytesIO(raw) if is_jpeg else np.asarray(img),
              "heatmap": ref_u8[..., None]}
    s = cfg.image_size
    image = np.asarray(img.resize((s, s), Image.BILINEAR))
    heat = np.asarray(Image.fromarray(ref_u8, mode="L").resize((s, s), Image.BILINEAR))
    fast = heatmaps_lib.heatmap_for_image(kpts, vis, (h, w), (s, s), mode="fast",
                                          min_sigma=self.min_sigma)
    return {"image": _png(image), "heatmap": _png(heat),
            "heatmap_fast": _png(_quantise(fast, name, floor=False))}


def _quantise(heat: np.ndarray, name: str, floor: bool) -> np.ndarray:
  """[0, 1] map -> uint8 (x 255, truncated or rounded); a non-finite map is an error (uint8
  would store NaN silently as 0)."""
  if not np.isfinite(heat).all():
    raise RuntimeError(f"{name}: the heatmap has non-finite values; this is a bug (the keypoints "
                       "were validated): please report it with the image's record")
  heat = heat * 255
  return (heat if floor else np.round(heat)).astype(np.uint8)


def _png(array: np.ndarray) -> io.BytesIO:
  """Lossless PNG bytes with fast (level 1) compression: TF's encoder (level 6) was the
  largest cost of preparation (BENCHMARKS.md, "Input pipeline")."""
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array)).save(buf, format="PNG", compress_level=1)
  buf.seek(0)
  return buf
