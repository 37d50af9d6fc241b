"""Periodic evaluations during training (and standalone), built from ``config.eval.evaluators``.

An evaluator is a callable ``(params, step) -> {name: float}`` with a ``name``; every process
calls it (collectives inside must line up), only process 0 writes what it returns. New kinds
are a class ``(config, *, model, mesh, datasets, workdir)`` named in focusclip_jax/plugins.py
``EVALUATORS`` (one line there).
"""

from __future__ import annotations

import logging
from typing import Protocol

import jax
import numpy as np

from focusclip_jax import batch_spec
from focusclip_jax import evaluation
from focusclip_jax import losses
from focusclip_jax import plugins
from focusclip_jax import results
from focusclip_jax import sharding as sharding_lib
from focusclip_jax import text_buckets
from focusclip_jax import train_step as train_step_lib
from focusclip_jax import zeroshot


class Evaluator(Protocol):
  name: str

  def __call__(self, params, step: int) -> dict[str, float]:
    ...


def build(config, *, model, mesh, datasets, workdir: str | None = None) -> list[Evaluator]:
  """The evaluators named by ``config.eval.evaluators`` (focusclip_jax/plugins.py)."""
  classes = [plugins.load(plugins.EVALUATORS, kind, "eval.evaluators")
             for kind in config.eval.evaluators]
  return [cls(config, model=model, mesh=mesh, datasets=datasets, workdir=workdir)
          for cls in classes]


class ValLoss:
  """The training objective and its metrics on the validation split (inference mode).

  Contrastive losses depend on the batch, so only full global batches of the training size
  are used (the remainder of the split, fewer than one batch per process, is skipped).
  """

  name = "val"

  def __init__(self, config, *, model, mesh, datasets, workdir: str | None = None):
    del workdir
    self.config = config
    self.model = model
    self.mesh = mesh
    self.datasets = datasets
    # One program per text key length (config.model.text.attention_buckets).
    self.eval_steps = text_buckets.PerBucket(
        model, config, lambda m: train_step_lib.make_eval_step(m, config, mesh))
    self.batch_sharding = sharding_lib.batch_sharding(mesh, config)

  def __call__(self, params, step: int) -> dict[str, float]:
    ds = self.datasets
    n = ds.source.num_examples(ds.val_split)
    full_batches = (n // ds.process_count) // ds.local_batch_size
    if full_batches < 1:
      logging.warning("Validation split %r has fewer than one batch per process; skipped",
                      ds.val_split)
      return {}
    sums, count = None, 0
    with sharding_lib.mesh_context(self.mesh, self.config):
      for i, batch in enumerate(ds.eval_iter()):
        if i >= full_batches:
          break
        inputs = batch_spec.model_inputs(batch, focus=self.model.focus)
        eval_step = self.eval_steps.for_mask(inputs["text_mask"])
        metrics = jax.device_get(eval_step(
            params, sharding_lib.make_global_batch(inputs, self.batch_sharding)))
        sums = metrics if sums is None else jax.tree.map(np.add, sums, metrics)
        count += 1
    return {f"{self.name}/{k}": float(v) / count for k, v in sums.items()}



class ZeroShot:
  """Zero-shot classification on ``config.eval.tasks`` (results also written under
  ``workdir/eval/step_<N>/`` by process 0)."""

  name = "zeroshot"

  def __init__(self, config, *, model, mesh, datasets, workdir: str | None = None):
    del datasets
    self.tasks = evaluation.check_tasks(config)  # fail at start-up, not hours later
    self.config, self.model, self.mesh, self.workdir = config, model, mesh, workdir

  def __call__(self, params, step: int) -> dict[str, float]:
    model_params, _ = losses.split_params(params)
    embedder = zeroshot.Embedder(self.model, model_params, self.config, mesh=self.mesh)
    out_dir = None if self.workdir is None else f"{self.workdir}/eval/step_{step}"
    per = evaluation.run_zeroshot(embedder, self.config, output_dir=out_dir,
                                  checkpoint=f"step {step}")
    scores = {k: v["score"] for k, v in per.items()}
    out = {f"zeroshot/{k}": v for k, v in scores.items()}
    for scheme, avgs in results.all_averages(scores).items():
      if not np.isnan(avgs["overall"]):
        out[f"zeroshot/{scheme}_average"] = avgs["overall"]
    return out


class LinearProbe:
  """A linear probe on frozen image embeddings of each of ``config.eval.tasks`` that has train
  and test splits (results also written under ``workdir/eval/step_<N>/`` by process 0)."""

  name = "linear_probe"

  def __init__(self, config, *, model, mesh, datasets, workdir: str | None = None):
    del datasets
    evaluation.check_tasks(config)  # fail at start-up, not hours later
    self.config, self.model, self.mesh, self.workdir = config, model, mesh, workdir

  def __call__(self, params, step: int) -> dict[str, float]:
    model_params, _ = losses.split_params(params)
    embedder = zeroshot.Embedder(self.model, model_params, self.config, mesh=self.mesh)
    out_dir = None if self.workdir is None else f"{self.workdir}/eval/step_{step}"
    per = evaluation.run_linear_probe(embedder, self.config, output_dir=out_dir)
    return {f"linear_probe/{k}": v["acc1"] for k, v in per.items() if "acc1" in v}


class Retrieval:
  """MPII validation image<->text recall@1/5/10."""

  name = "retrieval"

  def __init__(self, config, *, model, mesh, datasets, workdir: str | None = None):
    del workdir
    self.config, self.model, self.mesh, self.datasets = config, model, mesh, datasets

  def __call__(self, params, step: int) -> dict[str, float]:
    del step
    model_params, _ = losses.split_params(params)
    embedder = zeroshot.Embedder(self.model, model_params, self.config, mesh=self.mesh)
    res = zeroshot.retrieval(embedder, self.datasets.eval_iter())
    return {f"retrieval/{k}": v for k, v in res.items() if "R@" in k}

