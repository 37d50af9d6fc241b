"""CUB-200-2011 as a *training* source: FocusCLIP trained or fine-tuned on birds with bird
heatmaps (the paper's v1 CUB claim, for which the reference shipped no code).

``config.data.dataset = 'cub'`` with ``config.data.root`` = the CUB_200_2011 folder (layout:
input_pipeline/eval_datasets/cub.py). Splits: 'train' (is_train = 1) and 'validation'
(the test images). Per example:

  image    PIL bilinear squash-resize to the model resolution (as for people)
  heatmap  ``cub.bird_heatmap`` from the 15 part locations (computed when the example is
           read: it is a few separable Gaussians, cheaper than decoding the JPEG)
  text     a caption of the image when the Reed et al. (CVPR 2016) captions are present
           (``<root>/text_c10/<class folder>/<image>.txt``, 10 per image; one is picked per
           epoch, a function of (seed, epoch, image)), else the class prompt
           "a photo of a {name}, a type of bird."
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from input_pipeline import pipeline
from input_pipeline import tokenizer as tokenizer_lib
from input_pipeline.eval_datasets import cub


def _captions(root: str, image_path: str) -> list[str]:
  rel = os.path.relpath(image_path, os.path.join(root, "images"))
  path = os.path.join(root, "text_c10", os.path.splitext(rel)[0] + ".txt")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [line.strip() for line in f if line.strip()]


def source(config) -> pipeline.Source:
  if not config.data.root:
    raise ValueError("config.data.dataset='cub' needs config.data.root = the CUB_200_2011 folder")
  splits = {config.data.train_split: cub.cub200(config.data.root, split="train"),
            config.data.val_split: cub.cub200(config.data.root, split="test")}
  root = splits[config.data.train_split].info["root"]
  parts = cub.load_part_locations(root)
  images = {}
  for r in cub._read_table(os.path.join(root, "images.txt")):  # pylint: disable=protected-access
    images[os.path.join(root, "images", r[1])] = int(r[0])
  s = config.model.image.image_size
  tok = tokenizer_lib.tokenizer_from_config(config)
  min_sigma = config.data.heatmap_min_sigma
  seed = config.seed

  def num_examples(split):
    if split not in splits:
      raise ValueError(f"cub: no split {split!r}; have {sorted(splits)}")
    return len(splits[split].examples)

  def read(split, indices):
    num_examples(split)
    split_id = sorted(splits).index(split)
    return {"split": tf.fill(tf.shape(indices), tf.constant(split_id, tf.int64))}

  names = sorted(splits)

  def load(split_id, index, epoch):
    ds = splits[names[int(split_id)]]
    ex = ds.examples[int(index)]
    with Image.open(ex.source) as im:
      im = im.convert("RGB")
      w, h = im.size
      image = np.asarray(im.resize((s, s), Image.BILINEAR))
    xy, vis = parts.get(images.get(ex.source, -1),
                        (np.zeros((15, 2), np.float32), np.zeros(15, np.int32)))
    heat = cub.bird_heatmap(xy, vis, s, s, min_sigma=min_sigma, src_hw=(h, w))
    captions = _captions(root, ex.source)
    if captions:
      rng = np.random.default_rng([seed, int(epoch), images.get(ex.source, int(index))])
      text = captions[int(rng.integers(len(captions)))]
    else:
      text = ds.prompts[ex.label][0]
    ids, mask = tok([text])
    return (image, heat[..., None].astype(np.float32), ids[0], mask[0],
            np.int64(images.get(ex.source, index)))

  def decode(r):
    epoch = r.get("_epoch", tf.constant(0, tf.int64))
    image, heat, ids, mask, key = tf.numpy_function(
        load, [r["split"], r["index"], epoch],
        [tf.uint8, tf.float32, tf.int32, tf.int32, tf.int64])
    L = config.model.text.max_length
    return {"image": tf.ensure_shape(tf.cast(image, tf.float32) / 255.0, [s, s, 3]),
            "heatmap": tf.ensure_shape(heat, [s, s, 1]),
            "text_ids": tf.ensure_shape(ids, [L]), "text_mask": tf.ensure_shape(mask, [L]),
            "id": tf.ensure_shape(key, [])}

  return pipeline.Source(name="cub", num_examples=num_examples, read=read, decode=decode)
