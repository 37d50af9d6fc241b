"""The sharded train step: equality across meshes, donation, the NaN guard."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax import batch_spec
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding
from focusclip_jax import train_state
from focusclip_jax import train_step
from input_pipeline import synthetic
from tests.helpers import step_setup
from tests.helpers import tiny


def _batches(config, n=3):
  ex = batch_spec.from_uint8(synthetic.make_examples(n * config.train.batch_size, 32, 16, seed=0))
  b = config.train.batch_size
  return [{k: v[i * b:(i + 1) * b] for k, v in ex.items()} for i in range(n)]


def _run(config, devices, batches):
  """3 steps on a mesh over ``devices``; returns (losses, grads at step 0, final params)."""
  mesh, _, state, step, bsh, grad_fn = step_setup(config, devices)
  losses = []
  with sharding.mesh_context(mesh, config):
    grads = jax.device_get(grad_fn(state.params, sharding.make_global_batch(batches[0], bsh)))
    for b in batches:
      state, m = step(state, sharding.make_global_batch(b, bsh))
      losses.append(float(m["loss"]))
  return losses, grads, jax.device_get(state.params), state


@functools.lru_cache(maxsize=1)
def _single_device_reference():
  """The 1-device run both meshes are compared with (computed once)."""
  config = tiny(**{"sharding.mesh": (("data", 1), ("fsdp", 1)), "model.text.dropout": 0.0,
                   "model.text.attention_dropout": 0.0})
  return _run(config, jax.devices()[:1], _batches(config))


@pytest.mark.parametrize("mesh", [(("data", 8), ("fsdp", 1)), (("data", 4), ("fsdp", 2))])
def test_sharded_equals_single_device(mesh):
  config = tiny(**{"sharding.mesh": mesh, "model.text.dropout": 0.0,
                   "model.text.attention_dropout": 0.0})
  batches = _batches(config)
  ref = _single_device_reference()
  got = _run(config, jax.devices(), batches)
  assert len(jax.devices()) == 8
  np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got[1], ref[1])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got[2], ref[2])
  if mesh[1][1] == 2:  # FSDP really shards the weights
    kernel = got[3].params["image_tower"]["encoder"]["block_0"]["mlp"]["fc1"]["kernel"]
    assert kernel.sharding.spec == jax.sharding.PartitionSpec("fsdp", None)
    assert kernel.addressable_shards[0].data.shape == (16, 64)


def _setup(config):
  """(config, mesh, fresh-state factory, jitted step, batch sharding) on all 8 devices."""
  mesh = sharding.create_mesh(config)
  model = models.build_model(config)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 100)
  master = train_state.create_state(model, config, tx, mesh, jax.random.key(0))
  new_state = lambda: jax.tree.map(jnp.copy, master)  # steps donate their input
  step = train_step.build_step(model, config, tx, lr, mesh)
  return config, mesh, new_state, step, sharding.batch_sharding(mesh, config)


def _loss_at_step(setup, k, batch):
  """Loss of the same parameters on the same batch, as step ``k`` of a run."""
  config, mesh, new_state, step, bsh = setup
  state = new_state()
  state = state.replace(step=jax.device_put(jnp.asarray(k, state.step.dtype), state.step.sharding))
  with sharding.mesh_context(mesh, config):
    _, m = step(state, sharding.make_global_batch(batch, bsh))
  return float(m["loss"])


def test_dropout_mask_is_new_every_step_and_reproducible():
  """Same parameters, same batch, only the step number differs. The loss is a function of
  (parameters, batch, dropout mask), so it differs by the mask alone: a dropout key reused
  across steps gives equal losses and fails."""
  config = tiny(**{"sharding.mesh": (("data", 8), ("fsdp", 1))})
  assert config.model.text.dropout > 0
  batch = _batches(config, 1)[0]
  setup = _setup(config)
  losses = [_loss_at_step(setup, k, batch) for k in (0, 1, 2, 1)]
  assert losses[3] == losses[1]  # same step -> same mask
  assert len(set(losses[:3])) == 3, losses  # every step its own mask


def test_nonfinite_step_is_skipped():
  config = tiny(**{"sharding.mesh": (("data", 8), ("fsdp", 1))})
  _, mesh, new_state, step, bsh = _setup(config)
  state = new_state()
  good = _batches(config, 1)[0]
  bad = dict(good, image=np.full_like(good["image"], np.nan))
  with sharding.mesh_context(mesh, config):
    before = jax.device_get(state.params)
    state, m = step(state, sharding.make_global_batch(bad, bsh))
    assert int(m["nonfinite"]) == 1 and int(m["nonfinite_streak"]) == 1
    assert int(state.step) == 1
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), before)
    state, m = step(state, sharding.make_global_batch(bad, bsh))
    assert int(m["nonfinite_streak"]) == 2
    state, m = step(state, sharding.make_global_batch(good, bsh))
    assert int(m["nonfinite"]) == 0 and int(m["nonfinite_streak"]) == 0
    assert not np.allclose(jax.device_get(state.params)["image_proj"]["kernel"],
                           before["image_proj"]["kernel"])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e39 -> float32 Inf
@pytest.mark.parametrize("optim", [{"optim.name": "sgd"}, {"optim.name": "adamw"}])
def test_overflowing_update_is_skipped(optim):
  """Finite loss and gradient, but lr = 1e39 (Inf in float32) makes the update Inf/NaN: the
  step is not applied (parameters and optimizer state bit-identical) and counts in the streak."""
  config = tiny(**{"sharding.mesh": (("data", 8), ("fsdp", 1)), "optim.learning_rate": 1e39,
                   **optim})
  _, mesh, new_state, step, bsh = _setup(config)
  state = new_state()
  batch = sharding.make_global_batch(_batches(config, 1)[0], bsh)
  with sharding.mesh_context(mesh, config):
    before = jax.device_get(state)
    for k in (1, 2):
      state, m = step(state, batch)
      assert np.isfinite(float(m["loss"])) and np.isfinite(float(m["grad_norm"]))
      assert int(m["nonfinite"]) == 1 and int(m["nonfinite_streak"]) == k
      assert float(m["update_norm"]) == 0.0  # nothing applied
  after = jax.device_get(state)
  assert int(after.step) == 2 and int(after.nonfinite_streak) == 2
  jax.tree.map(np.testing.assert_array_equal, (after.params, after.opt_state),
               (before.params, before.opt_state))
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(after.params))


def test_state_is_donated():
  config = tiny(**{"sharding.mesh": (("data", 8), ("fsdp", 1))})
  mesh = sharding.create_mesh(config)
  model = models.build_model(config)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 100)
  state = train_state.create_state(model, config, tx, mesh, jax.random.key(0))
  step = train_step.build_step(model, config, tx, lr, mesh)
  with sharding.mesh_context(mesh, config):
    old = state.params["image_proj"]["kernel"]
    step(state, sharding.make_global_batch(_batches(config, 1)[0],
                                           sharding.batch_sharding(mesh, config)))
  assert old.is_deleted()


def test_mesh_shape_errors():
  with pytest.raises(ValueError, match="needs 6 devices but 8"):
    sharding.mesh_shape((("data", 3), ("fsdp", 2)), 8)
  with pytest.raises(ValueError, match="not divisible"):
    sharding.mesh_shape((("data", -1), ("fsdp", 3)), 8)
  assert sharding.mesh_shape((("data", -1), ("fsdp", 2)), 8) == (("data", "fsdp"), (4, 2))


@pytest.mark.parametrize("precision,expected", [("default", None), ("highest", "HIGHEST")])
def test_matmul_precision_reaches_every_dot(precision, expected):
  """config.model.matmul_precision is on every dot of the towers and the loss (the lowered
  step's dot_generals and convolutions), and 'default' leaves them at the platform default."""
  config = tiny(**{"model.matmul_precision": precision})
  model = models.build_model(config)
  params = train_state.abstract_train_params(model, config)
  batch = models.example_batch(config, batch_size=4, abstract=True)
  text = jax.jit(lambda p, b: train_step.loss_fn(model, config, p, b, None, train=False)[0]
                 ).lower(params, batch).as_text()
  ops = [line for line in text.splitlines()
         if "stablehlo.dot_general" in line or "stablehlo.convolution" in line]
  assert len(ops) > 10
  for line in ops:
    if expected is None:
      assert "HIGH" not in line, line  # absent, or explicitly DEFAULT
    else:  # dot_general prints "precision = [X, X]", convolution "#stablehlo<precision X>"
      assert (f"precision = [{expected}, {expected}]" in line
              or line.count(f"<precision {expected}>") == 2), line
