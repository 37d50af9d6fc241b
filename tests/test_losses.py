"""Losses: hand-computed cases, an independent NumPy port of pytorch-metric-learning, the
objective's terms, and finiteness under bf16 towers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import train_state
from focusclip_jax import train_step
from tests.helpers import tiny


def pml_ntxent_numpy(a, b, tau):
  """pytorch-metric-learning 2.3.0 SelfSupervisedLoss(NTXentLoss(tau)), symmetric, in NumPy.

  Written from pml's algorithm: embeddings = cat(a, b), labels = cat(arange, arange);
  CosineSimilarity (F.normalize, eps 1e-12); pairs from labels (diagonal excluded); per
  positive pair: max-subtracted numerator / (numerator + sum of the anchor's negatives),
  -log(. + tiny); MeanReducer over positive pairs.
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  emb = np.concatenate([a, b])
  labels = np.concatenate([np.arange(len(a)), np.arange(len(b))])
  emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
  mat = emb @ emb.T / tau
  n = len(emb)
  pair_losses = []
  for i in range(n):
    for j in range(n):
      if i == j or labels[i] != labels[j]:
        continue
      negs = [mat[i, k] for k in range(n) if labels[k] != labels[i]]
      max_val = max([mat[i, j]] + negs)
      num = math.exp(mat[i, j] - max_val)
      den = sum(math.exp(v - max_val) for v in negs) + num
      pair_losses.append(-math.log(num / den + np.finfo(np.float64).tiny))
  return float(np.mean(pair_losses))


def test_ntxent_hand_computed():
  # a = b = [e1, e2]: for every anchor the positive has cos 1 and the two negatives cos 0.
  e = np.eye(2, dtype=np.float32)
  got = float(losses.ntxent(e, e, 0.5))
  assert got == pytest.approx(math.log(math.exp(2.0) + 2.0) - 2.0, rel=1e-6)
  # One pair only: no negatives, the positive is the whole softmax.
  assert float(losses.ntxent(e[:1], e[1:], 0.5)) == pytest.approx(0.0, abs=1e-7)


def test_ntxent_same_modality_negatives_count():
  # Two images that are identical are each other's negative in pml's NT-Xent (but not in
  # CLIP's InfoNCE): making the images collapse must raise the NT-Xent loss.
  rng = np.random.default_rng(0)
  t = rng.normal(size=(2, 8)).astype(np.float32)
  spread = np.stack([t[0], t[1]])
  collapsed = np.stack([t[0], t[0] + 1e-3])
  assert float(losses.ntxent(collapsed, t, 0.5)) > float(losses.ntxent(spread, t, 0.5))


@pytest.mark.parametrize("b,d,tau,scale", [(4, 8, 0.5, 1.0), (16, 32, 0.5, 7.0), (9, 5, 0.1, 0.3)])
def test_ntxent_equals_pml_semantics(b, d, tau, scale):
  rng = np.random.default_rng(b * d)
  a = (rng.normal(size=(b, d)) * scale).astype(np.float32)
  c = (rng.normal(size=(b, d)) * scale).astype(np.float32)
  assert float(losses.ntxent(a, c, tau)) == pytest.approx(pml_ntxent_numpy(a, c, tau), abs=1e-5)


def test_clip_infonce_equals_numpy():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(2, 6, 8)).astype(np.float32)
  s = 2.3
  an = a / np.linalg.norm(a, axis=1, keepdims=True)
  bn = b / np.linalg.norm(b, axis=1, keepdims=True)
  logits = np.exp(s) * an @ bn.T

  def ce(lg):
    return np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(lg)])

  want = 0.5 * (ce(logits) + ce(logits.T))
  assert float(losses.clip_infonce(a, b, s)) == pytest.approx(want, rel=1e-5)


def test_siglip_equals_numpy():
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(2, 5, 4)).astype(np.float32)
  t, bias = 1.5, -2.0
  an = a / np.linalg.norm(a, axis=1, keepdims=True)
  bn = b / np.linalg.norm(b, axis=1, keepdims=True)
  logits = np.exp(t) * an @ bn.T + bias
  z = 2 * np.eye(5) - 1
  want = np.sum(np.log1p(np.exp(-z * logits))) / 5
  assert float(losses.siglip(a, b, t, bias)) == pytest.approx(want, rel=1e-5)


def _embeddings(b=6, d=8, seed=0):
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(rng.normal(size=(b, d)), jnp.float32) for k in ("image", "focus", "text")}


def test_objective_is_the_weighted_sum_of_terms():
  emb = _embeddings()
  config = tiny()
  loss, metrics = losses.objective(emb, {}, config)
  want = sum(pml_ntxent_numpy(emb[a], emb[b], 0.5) for a, b, _ in config.loss.terms)
  assert float(loss) == pytest.approx(want, abs=3e-5)
  for a, b, _ in config.loss.terms:
    assert float(metrics[f"{a}_{b}/loss"]) == pytest.approx(pml_ntxent_numpy(emb[a], emb[b], 0.5),
                                                           abs=1e-5)
  config.loss.terms = (("image", "text", 2.0), ("focus", "text", 0.5))
  loss2, _ = losses.objective(emb, {}, config)
  want2 = (2 * pml_ntxent_numpy(emb["image"], emb["text"], 0.5) +
           0.5 * pml_ntxent_numpy(emb["focus"], emb["text"], 0.5))
  assert float(loss2) == pytest.approx(want2, abs=3e-5)


def test_pair_metrics_hand_computed():
  a = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
  b = np.array([[1, 0], [1, 1], [0, 1]], np.float32)  # rows 1 and 2 swapped relative to a
  m = jax.device_get(losses.pair_metrics(a, b))
  # a->b argmax: row0 -> 0 (ok), row1 -> 2 (wrong), row2 -> 1 (wrong)
  assert m["acc_ab"] == pytest.approx(1 / 3)
  s = 1 / math.sqrt(2)
  assert m["pos_sim"] == pytest.approx((1 + s + s) / 3, rel=1e-6)
  sims = np.array([[1, s, 0], [0, s, 1], [s, 1, s]])
  assert m["neg_sim"] == pytest.approx((sims.sum() - np.trace(sims)) / 6, rel=1e-6)


def test_learnable_temperature_and_logit_scale():
  emb = _embeddings()
  config = tiny(**{"loss.learn_temperature": True})
  params = losses.init_loss_params(config)
  assert float(jnp.exp(params["log_temperature"])) == pytest.approx(0.5)
  g = jax.grad(lambda p: losses.objective(emb, p, config)[0])(params)
  assert float(jnp.abs(g["log_temperature"])) > 0
  config = tiny(**{"loss.type": "clip"})
  params = losses.init_loss_params(config)
  assert float(params["logit_scale"]) == pytest.approx(math.log(1 / 0.07))
  _, m = losses.objective(emb, {"logit_scale": jnp.float32(9.0)}, config)
  assert float(m["loss/logit_scale"]) == pytest.approx(100.0, rel=1e-5)  # clamped at ln 100
  config = tiny(**{"loss.type": "siglip"})
  params = losses.init_loss_params(config)
  assert set(params) == {"logit_scale", "logit_bias"}
  loss, _ = losses.objective(emb, params, config)
  assert np.isfinite(float(loss))


def test_train_params_split_into_model_and_objective_parameters():
  config = tiny(**{"loss.type": "siglip"})
  model = models.build_model(config)
  params = train_state.init_train_params(model, config, jax.random.key(0))
  assert params["loss"] is params[losses.PARAMS_KEY]  # the key old checkpoints hold
  model_params, loss_params = losses.split_params(params)
  assert set(loss_params) == {"logit_scale", "logit_bias"}
  assert losses.PARAMS_KEY not in model_params
  expected = jax.tree.map(lambda x: (x.shape, x.dtype), models.abstract_params(model, config))
  assert jax.tree.map(lambda x: (x.shape, x.dtype), model_params) == expected
  assert losses.join_params(model_params, loss_params).keys() == params.keys()
  # A loss without learnable parameters adds no key; splitting model parameters is a no-op.
  config = tiny()
  params = train_state.init_train_params(model, config, jax.random.key(0))
  assert losses.PARAMS_KEY not in params
  assert losses.split_params(params)[1] == {}
  with pytest.raises(ValueError, match="top-level module named 'loss'"):
    losses.join_params({"loss": {}}, {"logit_scale": 0.0})


def test_gradient_finite_under_bf16_towers():
  config = tiny(**{"model.dtype": "bfloat16"})
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  rng = np.random.default_rng(0)
  batch = {
      "image": jnp.asarray(rng.uniform(size=(8, 32, 32, 3)), jnp.float32),
      "heatmap": jnp.asarray(rng.uniform(size=(8, 32, 32, 1)), jnp.float32),
      "text_ids": jnp.asarray(rng.integers(1, 999, size=(8, 16)), jnp.int32),
      "text_mask": jnp.ones((8, 16), jnp.int32),
  }
  (loss, _), grads = jax.jit(jax.value_and_grad(
      lambda p: train_step.loss_fn(model, config, p, batch, jax.random.key(1)), has_aux=True))(
          params)
  assert loss.dtype == jnp.float32 and np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert float(jnp.abs(grads["alpha"])) > 0
