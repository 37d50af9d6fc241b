"""Contrastive losses and the FocusCLIP objective.

``ntxent`` is exactly what the reference computes with pytorch-metric-learning 2.3.0,
``SelfSupervisedLoss(NTXentLoss(temperature=0.5))`` (symmetric): stack the two B x D sets
into 2B rows, cosine similarities / tau, the diagonal removed, one positive per row (the same
index in the other half) and the other 2B - 2 rows -- same modality included -- as negatives,
cross-entropy averaged over the 2B rows. This is SimCLR's loss across two modalities, not CLIP's.

``clip`` is CLIP's InfoNCE (B x B logits, only cross-modal negatives, mean of the two
directions) with a learned logit scale, clamped to <= ln 100. ``siglip`` is SigLIP's pairwise
sigmoid loss with a learned scale and bias.

All losses are written on *global* arrays: under ``jax.jit`` with a batch-sharded input the
partitioner inserts the gathers, so no hand-written all-gather is needed. They run in fp32
whatever the towers' compute dtype.

The objective is a weighted sum of such terms over pairs of the embeddings ``image`` (e_I),
``focus`` (highlighted image, e_H) and ``text`` (e_T); reference: (H,I) + (H,T) + (I,T).
"""

from __future__ import annotations

import math
from typing import Mapping

import jax
import jax.numpy as jnp
import ml_collections


def l2_normalize(x, eps: float = 1e-12):
  """x / max(||x||, eps), as torch.nn.functional.normalize (used by pml's CosineSimilarity)."""
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def ntxent(a, b, temperature):
  """Symmetric NT-Xent over 2B anchors (pytorch-metric-learning semantics). Returns a scalar."""
  n = a.shape[0]
  z = l2_normalize(jnp.concatenate([a, b], axis=0))
  sim = (z @ z.T) / temperature
  idx = jnp.arange(2 * n)
  pos = sim[idx, (idx + n) % (2 * n)]
  sim = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, sim)  # an anchor is not its negative
  return jnp.mean(jax.nn.logsumexp(sim, axis=1) - pos)


def clip_infonce(a, b, logit_scale):
  """CLIP's symmetric InfoNCE with logits = exp(logit_scale) * cos(a_i, b_j)."""
  logits = jnp.exp(logit_scale) * (l2_normalize(a) @ l2_normalize(b).T)
  diag = jnp.diagonal(logits)
  loss_ab = jnp.mean(jax.nn.logsumexp(logits, axis=1) - diag)
  loss_ba = jnp.mean(jax.nn.logsumexp(logits, axis=0) - diag)
  return 0.5 * (loss_ab + loss_ba)


def siglip(a, b, logit_scale, logit_bias):
  """SigLIP: -sum_ij log sigmoid(z_ij * (exp(t) cos_ij + bias)) / B, z = +1 on the diagonal."""
  logits = jnp.exp(logit_scale) * (l2_normalize(a) @ l2_normalize(b).T) + logit_bias
  z = 2.0 * jnp.eye(a.shape[0]) - 1.0
  return -jnp.sum(jax.nn.log_sigmoid(z * logits)) / a.shape[0]


# ---------------------------------------------------------------------- loss parameters
#
# The objective owns its learnable parameters (temperature, logit scale/bias). They train with
# the model, so they live in the train state's parameter tree next to the model's top-level
# modules, under PARAMS_KEY; ``split_params`` / ``join_params`` are the one place that knows
# this. The key stays 'loss', as in every checkpoint written so far: the same tree is the
# Orbax restore target of the train state (the optimizer moments mirror it), so renaming it
# would need a migration on every resume, not only for inference loading.

PARAMS_KEY = "loss"
LOSS_TYPES = ("ntxent", "clip", "siglip")  # config.loss.type


def split_params(params) -> tuple[dict, dict]:
  """Train parameters -> (model parameters, the objective's parameters; {} if none)."""
  model_params = {k: v for k, v in params.items() if k != PARAMS_KEY}
  return model_params, params.get(PARAMS_KEY, {})


def join_params(model_params, loss_params) -> dict:
  """(model parameters, the objective's parameters) -> train parameters (inverse of split)."""
  if PARAMS_KEY in model_params:
    raise ValueError(f"The model has a top-level module named {PARAMS_KEY!r}, the key of the "
                     "objective's parameters; rename the module.")
  return {**model_params, PARAMS_KEY: loss_params} if loss_params else dict(model_params)


def init_loss_params(config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
  """The objective's learnable parameters for ``config.loss`` ({} when it has none)."""
  c = config.loss
  if c.type == "ntxent":
    return {"log_temperature": jnp.float32(math.log(c.temperature))} if c.learn_temperature else {}
  params = {"logit_scale": jnp.float32(c.logit_scale_init)}
  if c.type == "siglip":
    params["logit_bias"] = jnp.float32(c.logit_bias_init)
  return params


def _pair_loss(a, b, loss_params, config):
  c = config.loss
  if c.type == "ntxent":
    tau = (jnp.exp(loss_params["log_temperature"]) if "log_temperature" in loss_params
           else c.temperature)
    return ntxent(a, b, tau)
  scale = jnp.clip(loss_params["logit_scale"], 0.0, c.logit_scale_max)
  if c.type == "clip":
    return clip_infonce(a, b, scale)
  return siglip(a, b, scale, loss_params["logit_bias"])


def pair_metrics(a, b) -> dict[str, jax.Array]:
  """In-batch retrieval accuracy and similarity statistics of a pair of embedding sets."""
  sim = l2_normalize(a) @ l2_normalize(b).T
  n = a.shape[0]
  idx = jnp.arange(n)
  eye = jnp.eye(n, dtype=bool)
  return {
      "acc_ab": jnp.mean(jnp.argmax(sim, axis=1) == idx),
      "acc_ba": jnp.mean(jnp.argmax(sim, axis=0) == idx),
      "pos_sim": jnp.mean(jnp.diagonal(sim)),
      "neg_sim": jnp.sum(jnp.where(eye, 0.0, sim)) / max(n * (n - 1), 1),
  }


def objective(embeddings: Mapping[str, jax.Array], loss_params, config: ml_collections.ConfigDict):
  """The configured weighted sum of pair losses -> (loss, metrics).

  ``embeddings``: {'image', 'text'[, 'focus']} raw projections [B, D] on the global batch.
  Metrics per term ``<a>_<b>/{loss, acc_ab, acc_ba, pos_sim, neg_sim}`` plus embedding norms.
  """
  total = jnp.float32(0.0)
  metrics = {}
  for a_name, b_name, weight in config.loss.terms:
    a, b = embeddings[a_name], embeddings[b_name]
    term = _pair_loss(a, b, loss_params, config)
    total = total + weight * term
    prefix = f"{a_name}_{b_name}/"
    metrics[prefix + "loss"] = term
    metrics.update({prefix + k: v for k, v in pair_metrics(a, b).items()})
  for name, e in embeddings.items():
    metrics[f"norm/{name}"] = jnp.mean(jnp.linalg.norm(e.astype(jnp.float32), axis=-1))
  if "log_temperature" in loss_params:
    metrics["loss/temperature"] = jnp.exp(loss_params["log_temperature"])
  if "logit_scale" in loss_params:
    metrics["loss/logit_scale"] = jnp.exp(jnp.clip(loss_params["logit_scale"], 0.0,
                                                   config.loss.logit_scale_max))
  if "logit_bias" in loss_params:
    metrics["loss/logit_bias"] = loss_params["logit_bias"]
  metrics["loss"] = total
  return total, metrics
