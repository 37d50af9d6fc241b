"""Computes zero-shot classification and retrieval of a FocusCLIP (or CLIP baseline) model.

This module only computes (embeddings, scores, metrics); ``results`` writes the outputs and
``evaluation`` runs both. Class embeddings: every prompt of a class goes through the
canonical tokenizer and ``encode_text``, is L2-normalised, averaged over the class's prompts
and renormalised (CLIP's prompt ensembling). Prompts are encoded once per dataset, in
batches. Images go through ``encode_image`` in fixed-size global batches (the last padded and
masked), sharded over the mesh, so every process runs the same steps; the embeddings come
back replicated, so all processes compute the same metrics. Scores are cosine similarities (the reference's
softmax does not change the ranking).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Sequence

import jax
import numpy as np

from focusclip_jax import losses
from focusclip_jax import metrics as metrics_lib
from focusclip_jax import models
from focusclip_jax import sharding as sharding_lib
from focusclip_jax import text_buckets
from focusclip_jax import stats
from input_pipeline import eval_pipeline
from input_pipeline import tokenizer as tokenizer_lib


class Embedder:
  """Turns images and texts into L2-normalised embeddings with a model's ``encode_image`` /
  ``encode_text``: jitted, on fixed-size global batches sharded over the mesh."""

  def __init__(self, model, params, config, mesh=None, tokenizer=None):
    self.model = model
    self.config = config
    self.mesh = mesh if mesh is not None else sharding_lib.create_mesh(config)
    self.batch_sharding = sharding_lib.batch_sharding(self.mesh, config)
    self.divisor = sharding_lib.global_batch_size_divisor(self.mesh, config)
    repl = sharding_lib.replicated(self.mesh)
    # Parameters already on device keep their sharding; host arrays are replicated.
    self.params = jax.tree.map(
        lambda x: x if isinstance(x, jax.Array) else jax.device_put(x, repl), params)
    if tokenizer is None:
      tokenizer = tokenizer_lib.tokenizer_from_config(config)
    self.tokenizer = tokenizer
    def encode(module, method, params, *args):
      with models.matmul_precision(config):
        return losses.l2_normalize(module.apply({"params": params}, *args, method=method))

    self._image = jax.jit(lambda p, x: encode(model, model.encode_image, p, x),
                          out_shardings=repl)
    # One program per text key length (config.model.text.attention_buckets).
    self._text = text_buckets.PerBucket(model, config, lambda m: jax.jit(
        lambda p, i, k: encode(m, m.encode_text, p, i, k), out_shardings=repl))
    self._replicate = jax.jit(lambda x: x, out_shardings=repl)

  def round_batch(self, batch: int) -> int:
    """The smallest multiple of the batch-axis devices and processes >= batch."""
    step = math.lcm(self.divisor, jax.process_count())
    return max(step, math.ceil(batch / step) * step)

  def _global(self, local: np.ndarray):
    return jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(local))

  def encode_image_batch(self, local_images: np.ndarray) -> np.ndarray:
    """This process's slice of a global image batch -> all embeddings of the global batch."""
    with sharding_lib.mesh_context(self.mesh, self.config):
      return np.asarray(jax.device_get(self._image(self.params, self._global(local_images))))

  def encode_text_batch(self, local_ids: np.ndarray, local_mask: np.ndarray) -> np.ndarray:
    with sharding_lib.mesh_context(self.mesh, self.config):
      encode = self._text.for_mask(local_mask)
      return np.asarray(jax.device_get(encode(self.params, self._global(local_ids),
                                              self._global(local_mask))))

  def gather(self, local: np.ndarray) -> np.ndarray:
    """This process's slice of a global batch -> the whole global batch on every process."""
    return np.asarray(jax.device_get(self._replicate(self._global(local))))

  def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """[n] strings (the same on every process) -> [n, D] normalised embeddings."""
    gb = self.round_batch(batch_size)
    ids, mask = self.tokenizer(list(texts))
    n = len(texts)
    pad = (-n) % gb
    ids = np.concatenate([ids, np.zeros((pad, ids.shape[1]), ids.dtype)])
    mask = np.concatenate([mask, np.zeros((pad, mask.shape[1]), mask.dtype)])
    mask[n:, 0] = 1  # padding rows attend to one token (avoids an all-masked softmax)
    lb = gb // jax.process_count()
    p = jax.process_index()
    out = []
    for s in range(0, len(ids), gb):
      sl = slice(s + p * lb, s + (p + 1) * lb)
      out.append(self.encode_text_batch(ids[sl], mask[sl]))
    return np.concatenate(out)[:n]

  def class_embeddings(self, prompts: Sequence[Sequence[str]], batch_size: int = 64):
    """Per-class prompt lists -> [C, D]: mean of normalised prompt embeddings, renormalised."""
    flat = [t for p in prompts for t in p]
    owner = np.repeat(np.arange(len(prompts)), [len(p) for p in prompts])
    emb = self.encode_texts(flat, batch_size)
    sums = np.zeros((len(prompts), emb.shape[1]), np.float64)
    np.add.at(sums, owner, emb)
    means = sums / np.maximum(np.bincount(owner, minlength=len(prompts)), 1)[:, None]
    return (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(
        np.float32)


@dataclasses.dataclass
class DatasetResult:
  name: str
  scores: np.ndarray  # [N, C] cosine similarities
  labels: np.ndarray  # [N]
  label_sets: list[tuple[int, ...]]
  metrics: dict[str, float]
  k: int
  num_classes: int

  def hits(self) -> np.ndarray:
    """[N] 0/1: top-k correct per example (k of the dataset's score)."""
    return metrics_lib.topk_hits(self.scores, self.labels, self.k).astype(np.int8)


def classification_metrics(scores, labels, label_sets, k: int, num_classes: int,
                           multilabel: bool) -> dict[str, float]:
  """Top-k accuracy (the paper's metric, in %) and friends."""
  out = {
      "acc1": 100 * metrics_lib.topk_accuracy(scores, labels, 1),
      f"acc{k}": 100 * metrics_lib.topk_accuracy(scores, labels, k),
      "mean_per_class_recall": 100 * metrics_lib.mean_per_class_recall(scores, labels,
                                                                       num_classes),
      "chance": 100 * metrics_lib.chance_topk(num_classes, k),
  }
  if multilabel:
    out[f"any_label_acc{k}"] = 100 * metrics_lib.any_label_topk_accuracy(scores, label_sets, k)
  out["score"] = out[f"acc{k}"]  # what the paper reports for this dataset
  # 95% Wilson interval of the score (binomial over the test examples), in %.
  hits = int(metrics_lib.topk_hits(scores, labels, k).sum()) if len(labels) else 0
  if len(labels):
    lo, hi = stats.wilson_interval(hits, len(labels))
    out["score_ci95_lo"], out["score_ci95_hi"] = 100 * lo, 100 * hi
  return out


def image_embeddings(embedder: Embedder, dataset, *, batch_size: int = 64,
                     limit: int | None = None) -> np.ndarray:
  """[N, D] normalised image embeddings of an ``EvalDataset``'s (first ``limit``) examples,
  the same on every process."""
  gb = embedder.round_batch(batch_size)
  size = embedder.config.model.image.image_size
  n = len(dataset.examples) if limit is None else min(limit, len(dataset.examples))
  emb = [embedder.encode_image_batch(local["image"]) for local in eval_pipeline.image_batches(
      dataset, size, gb, process_index=jax.process_index(),
      process_count=jax.process_count(), limit=limit)]
  # Global batch g holds examples g * gb ... (g + 1) * gb - 1; the padding rows are >= n.
  return np.concatenate(emb)[:n]


def evaluate_dataset(embedder: Embedder, dataset, *, batch_size: int = 64,
                     limit: int | None = None) -> DatasetResult:
  """Zero-shot classification of an ``EvalDataset``."""
  text = embedder.class_embeddings(dataset.prompts, batch_size)
  n = len(dataset.examples) if limit is None else min(limit, len(dataset.examples))
  scores = image_embeddings(embedder, dataset, batch_size=batch_size, limit=limit) @ text.T
  examples = dataset.examples[:n]
  labels = np.asarray([ex.label for ex in examples])
  label_sets = [ex.all_labels for ex in examples]
  m = classification_metrics(scores, labels, label_sets, dataset.k, dataset.num_classes,
                             dataset.multilabel)
  return DatasetResult(dataset.name, scores, labels, label_sets, m, dataset.k,
                       dataset.num_classes)


def retrieval(embedder: Embedder, batches, ks=(1, 5, 10)) -> dict[str, float]:
  """Image<->text retrieval over paired eval batches (e.g. the MPII validation split).

  ``batches``: this process's eval batches with image, text_ids, text_mask and '_mask'
  (input_pipeline.pipeline.eval_iterator); recall@k in %.
  """
  img, txt, keep = [], [], []
  for b in batches:
    img.append(embedder.encode_image_batch(b["image"]))
    txt.append(embedder.encode_text_batch(b["text_ids"], b["text_mask"]))
    keep.append(embedder.gather(b["_mask"]))
  keep = np.concatenate(keep)
  img, txt = np.concatenate(img)[keep], np.concatenate(txt)[keep]
  out = metrics_lib.retrieval_recall(img @ txt.T, ks)
  return {k: (100 * v if "R@" in k else v) for k, v in out.items()} | {"num_pairs": len(img)}


def log_result(result: DatasetResult) -> None:
  m = result.metrics
  logging.info("%s: acc@%d %.2f%% (acc@1 %.2f%%, chance %.2f%%) on %d examples", result.name,
               result.k, m[f"acc{result.k}"], m["acc1"], m["chance"], len(result.labels))

