"""MPII Pose Descriptions as a pipeline ``Source``: reads the prepared TFDS dataset and decodes
records into model examples (see input_pipeline/pipeline.py for the example structure).

Decoding per config:
  image     the stored image; resized (bilinear, antialiased) only when the prepared
            resolution differs from ``config.model.image.image_size``: squashed to S x S
            (the reference) or, with ``config.data.resize='center_crop'``, shorter side to S
            and the central square (full-resolution configs only).
  heatmap   ``config.data.heatmap_mode``: 'fidelity' = the reference's heatmap (integer
            arithmetic at the original resolution, uint8, resized with the image);
            'fast' = evaluated directly at model resolution with float keypoints (stored in
            the ``-<S>px`` variants, computed on the fly from the keypoints otherwise).
  text      the stored 512-token ids cut to ``config.model.text.max_length`` exactly as the
            tokenizer would truncate ([CLS] ... [SEP]); with several descriptions per image
            (config 'all'), ``config.data.description_choice`` picks one: 'first', or
            'random' = a fresh choice every epoch, a function of (seed, epoch, image).

Training-only augmentation (``config.data.augment``, off by default as in the reference):
the same random resized crop of image and heatmap, and a horizontal flip that also swaps
the words 'left' and 'right' in the description (their token ids), so the text stays true.
Random choices are functions of (seed, epoch, image), so a resumed run repeats them.
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from input_pipeline import heatmaps as heatmaps_lib
# Registers the TFDS builder that get_builder() asks tfds.builder for by name.
from input_pipeline import mpii_pose_descriptions  # pylint: disable=unused-import  # noqa: F401
from input_pipeline import pipeline
from input_pipeline import random_access
from input_pipeline import tokenizer as tokenizer_lib

NAME = "mpii_pose_descriptions"
RESIZE_MODES = ("squash", "center_crop")  # config.data.resize
DESCRIPTION_CHOICES = ("first", "random")  # config.data.description_choice


def prepare_command(config) -> str:
  cmd = (f"python -m input_pipeline.prepare --manual_dir={config.data.manual_dir or '<MPII dir>'}"
         f" --config={config.data.builder_config}")
  if config.data.data_dir:
    cmd += f" --data_dir={config.data.data_dir}"
  return cmd


def get_builder(config):
  name = f"{NAME}/{config.data.builder_config}"
  try:
    builder = tfds.builder(name, data_dir=config.data.data_dir or None)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"config.data.builder_config {config.data.builder_config!r}: {e}") from e
  if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
    raise FileNotFoundError(
        f"The dataset {name} is not prepared in {builder.data_dir}. Prepare it once with\n  "
        f"{prepare_command(config)}\n(see README: 'Data'), or train on "
        "--config.data.dataset=synthetic.")
  if not random_access.has_array_record(builder.data_dir):
    raise FileNotFoundError(
        f"The dataset {name} in {builder.data_dir} has no array_record copy, which the "
        "training pipeline reads by record index (datasets prepared before it was added). "
        f"Add it by running the prepare command again:\n  {prepare_command(config)}")
  return builder


def truncate_ids(ids512, max_length: int):
  """Stored [CLS] x [SEP] 0... ids -> exactly what the tokenizer gives at max_length."""
  length = tf.cast(tf.math.count_nonzero(ids512), tf.int32)
  sep = ids512[tf.maximum(length - 1, 0)]
  ids = ids512[:max_length]
  cut = length > max_length
  last = tf.where(cut, sep, ids[max_length - 1])
  ids = tf.concat([ids[:max_length - 1], [last]], axis=0)
  mask = tf.cast(tf.range(max_length) < tf.minimum(length, max_length), tf.int32)
  return ids, mask


def source(config) -> pipeline.Source:
  builder = get_builder(config)
  prepared = builder.builder_config.image_size
  meta = builder.info.metadata or {}
  s = config.model.image.image_size
  max_length = config.model.text.max_length
  if max_length > builder.info.features["text_ids"].shape[-1]:
    raise ValueError(f"config.model.text.max_length {max_length} exceeds the prepared "
                     f"{builder.info.features['text_ids'].shape[-1]} tokens")
  if meta.get("tokenizer") and meta["tokenizer"] != config.model.text.tokenizer:
    logging.warning("The dataset was tokenized with %r, the config names %r: make sure they "
                    "share the vocabulary", meta["tokenizer"], config.model.text.tokenizer)
  mode = config.data.heatmap_mode
  stored_fast = "heatmap_fast" in builder.info.features
  on_the_fly = mode == "fast" and not stored_fast
  if not on_the_fly and "min_sigma" in meta and float(meta["min_sigma"]) != float(
      config.data.heatmap_min_sigma):
    raise ValueError(
        f"The dataset's heatmaps were prepared with min_sigma={meta['min_sigma']} but "
        f"config.data.heatmap_min_sigma={config.data.heatmap_min_sigma}; set the config to "
        "match or prepare again with --min_sigma.")
  heat_key = "heatmap_fast" if (mode == "fast" and stored_fast) else "heatmap"
  decoders = {"image": tfds.decode.SkipDecoding(), "heatmap": tfds.decode.SkipDecoding()}
  if stored_fast:
    decoders["heatmap_fast"] = tfds.decode.SkipDecoding()
  choice = config.data.description_choice
  seed = config.seed

  def num_examples(split):
    if split not in builder.info.splits:
      raise ValueError(f"{NAME}: no split {split!r}; prepared: {list(builder.info.splits)}")
    return builder.info.splits[split].num_examples

  readers = {}

  def read(split, indices):
    num_examples(split)
    if split not in readers:
      readers[split] = random_access.IndexReader(builder.data_dir, split)
    return {"serialized": readers[split].read_tf(indices)}

  def parsed(fn):
    """decode(record) on the parsed tf.Example (+ the pipeline's 'index', '_epoch')."""
    def wrapped(r):
      fields = builder.info.features.deserialize_example(r["serialized"], decoders=decoders)
      return fn(dict(fields, **{k: v for k, v in r.items() if k != "serialized"}))
    return wrapped

  resize_mode = config.data.resize
  if resize_mode == "center_crop" and prepared is not None:
    raise ValueError(
        f"config.data.resize='center_crop' needs the original images, but builder config "
        f"{config.data.builder_config!r} stores them squashed to {prepared} px; use the "
        "full-resolution config (e.g. 'gpt-4') or resize='squash'.")

  def fit(x):
    """Image-like [h, w, c] float -> [s, s, c] by the configured resize."""
    if prepared == s:
      return x
    if resize_mode == "squash":
      return tf.image.resize(x, (s, s), method="bilinear", antialias=True)
    h, w = _center_crop_geometry(tf.shape(x)[0], tf.shape(x)[1], s)[:2]
    x = tf.image.resize(x, (h, w), method="bilinear", antialias=True)
    oy, ox = (h - s) // 2, (w - s) // 2
    return x[oy:oy + s, ox:ox + s]

  def fast_heatmap_on_the_fly(r):
    h0, w0 = r["original_size"][0], r["original_size"][1]
    if resize_mode == "squash":
      hw = tf.cast(r["original_size"], tf.float32)
      return heatmaps_lib.heatmap_for_image_tf(
          r["keypoints"], r["visibility"], (hw[0], hw[1]), (s, s), mode="fast",
          min_sigma=config.data.heatmap_min_sigma)
    h, w, oy, ox = _center_crop_geometry(h0, w0, s)
    scale = tf.cast(tf.stack([w / w0, h / h0]), tf.float32)
    offset = tf.cast(tf.stack([ox, oy]), tf.float32)
    kpts = (r["keypoints"] + 0.5) * scale - 0.5 - offset
    return heatmaps_lib.heatmap_tf(kpts, r["visibility"], s, s,
                                   min_sigma=config.data.heatmap_min_sigma)

  def decode(r):
    image = tf.io.decode_image(r["image"], channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = fit(tf.cast(image, tf.float32) / 255.0)
    if on_the_fly:
      heat = fast_heatmap_on_the_fly(r)[..., None]
    else:
      heat = tf.io.decode_png(r[heat_key], channels=1)
      heat = fit(tf.cast(heat, tf.float32) / 255.0)
    ids_all = r["text_ids"]
    n = tf.shape(ids_all)[0]
    if choice == "random":
      idx = tf.random.stateless_uniform([], seed=_example_seed(seed, r), maxval=n,
                                        dtype=tf.int32)
    else:
      idx = 0
    ids, mask = truncate_ids(ids_all[idx], max_length)
    return {
        "image": tf.ensure_shape(image, [s, s, 3]),
        "heatmap": tf.ensure_shape(tf.clip_by_value(heat, 0.0, 1.0), [s, s, 1]),
        "text_ids": tf.ensure_shape(ids, [max_length]),
        "text_mask": tf.ensure_shape(mask, [max_length]),
        "id": tf.strings.to_hash_bucket_fast(r["image_name"], 2**62),
    }

  aug = config.data.augment
  left_right = None
  if aug.hflip:
    left_right = tokenizer_lib.tokenizer_from_config(config).token_ids(["left", "right"])

  def decode_train(r):
    ex = decode(r)
    key = _example_seed(seed, r)
    if aug.random_resized_crop:
      begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
          [s, s, 3], tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=key,
          min_object_covered=0.0, aspect_ratio_range=tuple(aug.crop_aspect_ratio),
          area_range=tuple(aug.crop_area), max_attempts=10, use_image_if_no_bounding_boxes=True)
      for k in ("image", "heatmap"):
        c = ex[k].shape[-1]
        crop = tf.slice(ex[k], tf.concat([begin[:2], [0]], 0), tf.concat([size[:2], [c]], 0))
        ex[k] = tf.ensure_shape(
            tf.image.resize(crop, (s, s), method="bilinear", antialias=True), [s, s, c])
    if aug.hflip:
      flip = tf.random.stateless_uniform([], seed=key + tf.constant([0, 1], tf.int64)) < 0.5
      for k in ("image", "heatmap"):
        ex[k] = tf.where(flip, tf.reverse(ex[k], axis=[1]), ex[k])
      left, right = left_right
      ids = ex["text_ids"]
      swapped = tf.where(ids == left, right, tf.where(ids == right, left, ids))
      ex["text_ids"] = tf.where(flip, swapped, ids)
    return ex

  augmenting = aug.random_resized_crop or aug.hflip or choice == "random"
  return pipeline.Source(name=f"{NAME}/{config.data.builder_config}",
                         num_examples=num_examples, read=read, decode=parsed(decode),
                         decode_train=parsed(decode_train) if augmenting else None)


def _example_seed(seed: int, r):
  """Stateless seed from (config seed, epoch, image): the same after a resume."""
  key = tf.strings.to_hash_bucket_fast(r["image_name"], 2**31 - 1)
  epoch = tf.cast(r.get("_epoch", tf.constant(0, tf.int64)), tf.int64)
  return tf.stack([tf.cast(seed, tf.int64) * 1_000_003 + epoch, key])


def _center_crop_geometry(h0, w0, s: int):
  """Resize so the shorter side is s, then crop the centre: -> (h, w, offset_y, offset_x)."""
  h0f, w0f = tf.cast(h0, tf.float32), tf.cast(w0, tf.float32)
  scale = s / tf.minimum(h0f, w0f)
  h = tf.maximum(tf.cast(tf.round(h0f * scale), tf.int32), s)
  w = tf.maximum(tf.cast(tf.round(w0f * scale), tf.int32), s)
  return h, w, (h - s) // 2, (w - s) // 2
