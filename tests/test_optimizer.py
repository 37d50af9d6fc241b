"""The optax optimizer built from the config: SGD momentum, clipping, masks, groups, schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from focusclip_jax import optimizer
from tests.helpers import tiny


def _params():
  return {
      "alpha": jnp.float32(0.5),
      "image_proj": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones((3,))},
      "text_tower": {"embeddings_ln": {"scale": jnp.ones((3,)), "bias": jnp.zeros((3,))},
                     "word_embeddings": {"embedding": jnp.ones((4, 3))},
                     "encoder": {"block_0": {"mlp": {"fc1": {"kernel": jnp.ones((3, 3))}}}}},
  }


def _grads(params, value=1.0):
  return jax.tree.map(lambda p: jnp.full_like(p, value), params)


def _step(tx, params, grads, state=None):
  state = tx.init(params) if state is None else state
  updates, state = tx.update(grads, state, params)
  return optax.apply_updates(params, updates), state


def test_paper_sgd_is_torch_sgd_with_momentum():
  config = tiny(**{"optim.grad_clip_norm": 0.0})
  params = _params()
  tx, _ = optimizer.build(config, params, 10)
  p1, s = _step(tx, params, _grads(params, 1.0))
  p2, _ = _step(tx, p1, _grads(params, 2.0), s)
  # torch: v1 = g1 = 1; p1 = p0 - lr*1;  v2 = 0.9*1 + 2 = 2.9; p2 = p1 - lr*2.9
  lr = 5e-4
  np.testing.assert_allclose(p1["alpha"], 0.5 - lr, rtol=1e-6)
  np.testing.assert_allclose(p2["alpha"], 0.5 - lr - 2.9 * lr, rtol=1e-6)


def test_global_norm_clipping():
  config = tiny(**{"optim.momentum": 0.0, "optim.grad_clip_norm": 1.0})
  params = _params()
  tx, _ = optimizer.build(config, params, 10)
  g = _grads(params, 3.0)
  norm = float(optax.global_norm(g))
  p1, _ = _step(tx, params, g)
  np.testing.assert_allclose(params["alpha"] - p1["alpha"], 5e-4 * 3.0 / norm, rtol=2e-3)


def test_frozen_groups_get_no_update_and_no_state():
  config = tiny(**{"optim.frozen": ("text_tower/.*",), "optim.grad_clip_norm": 1.0,
                   "optim.momentum": 0.0})
  params = _params()
  tx, _ = optimizer.build(config, params, 10)
  g = _grads(params, 1.0)
  p1, state = _step(tx, params, g)
  jax.tree.map(np.testing.assert_array_equal, p1["text_tower"], params["text_tower"])
  assert float(p1["alpha"]) < 0.5
  # Clipping sees only the trainable gradients: 1 + 6 + 3 = 10 entries of 1.0 -> norm sqrt(10).
  np.testing.assert_allclose(0.5 - p1["alpha"], 5e-4 * min(1.0, 1.0 / np.sqrt(10)), rtol=2e-3)
  assert optimizer.count_trainable(params, config) == 10


def test_lr_multipliers():
  config = tiny(**{"optim.lr_multipliers": (("image_proj/.*", 10.0), ("alpha", 0.0)),
                   "optim.momentum": 0.0, "optim.grad_clip_norm": 0.0})
  params = _params()
  tx, _ = optimizer.build(config, params, 10)
  p1, _ = _step(tx, params, _grads(params, 1.0))
  np.testing.assert_allclose(params["image_proj"]["bias"] - p1["image_proj"]["bias"], 5e-3,
                             rtol=2e-3)
  assert float(p1["alpha"]) == 0.5
  np.testing.assert_allclose(params["text_tower"]["embeddings_ln"]["scale"] -
                             p1["text_tower"]["embeddings_ln"]["scale"], 5e-4, rtol=2e-3)


def test_weight_decay_only_on_kernels():
  mask = optimizer.decay_mask(_params())
  assert mask["image_proj"] == {"kernel": True, "bias": False}
  assert mask["alpha"] is False
  assert mask["text_tower"]["embeddings_ln"] == {"scale": False, "bias": False}
  assert mask["text_tower"]["word_embeddings"]["embedding"] is False
  config = tiny(**{"optim.name": "adamw", "optim.weight_decay": 0.1, "optim.grad_clip_norm": 0.0})
  params = _params()
  tx, _ = optimizer.build(config, params, 10)
  p1, _ = _step(tx, params, _grads(params, 0.0))  # zero gradients: only decay moves weights
  assert float(p1["image_proj"]["kernel"][0, 0]) == pytest.approx(1 - 5e-4 * 0.1, rel=1e-6)
  np.testing.assert_array_equal(p1["image_proj"]["bias"], params["image_proj"]["bias"])
  assert float(p1["alpha"]) == 0.5


def test_warmup_cosine_schedule():
  config = tiny(**{"optim.schedule": "warmup_cosine", "optim.warmup_steps": 10,
                   "optim.learning_rate": 1.0, "optim.end_lr_factor": 0.1})
  s = optimizer.schedule(config, 110)
  assert float(s(0)) == 0.0
  assert float(s(5)) == pytest.approx(0.5)
  assert float(s(10)) == pytest.approx(1.0)
  assert float(s(60)) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-5)
  assert float(s(110)) == pytest.approx(0.1, rel=1e-5)
  assert float(optimizer.schedule(tiny(), 100)(50)) == pytest.approx(5e-4)


def test_frozen_tower_is_not_differentiated():
  """The train step stops the gradient of frozen parameters: zero grads, fewer FLOPs."""
  import jax  # pylint: disable=g-import-not-at-top
  from focusclip_jax import models, sharding, train_state, train_step  # pylint: disable=g-import-not-at-top,multiple-imports
  flops = {}
  for frozen in ((), ("text_tower/.*",)):
    config = tiny(**{"optim.frozen": frozen, "sharding.mesh": (("data", 8), ("fsdp", 1))})
    mesh = sharding.create_mesh(config)
    model = models.build_model(config)
    tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 10)
    jitted = train_step.build_step(model, config, tx, lr, mesh)
    _, _, cost = train_step.compile_train_step(jitted, model, config, tx, mesh)
    flops[frozen] = cost["flops"]
  assert flops[("text_tower/.*",)] < 0.9 * flops[()]
