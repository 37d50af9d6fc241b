"""Checkpoint retention, params-only export, config round trip, inference loading errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from focusclip_jax import checkpointing
from focusclip_jax import config_lib
from focusclip_jax import models
from focusclip_jax import train_state
from tests.helpers import tiny


def test_keeps_latest_k_plus_every_mth(tmp_path):
  config = tiny(**{"train.checkpoint_every_steps": 1, "train.keep_checkpoints": 2,
                   "train.keep_every_steps": 4})
  ckpt = checkpointing.Checkpointer(str(tmp_path), config, async_save=False)
  state = {"w": jnp.arange(3.0)}
  for step in range(1, 10):
    assert ckpt.save(step, jax.tree.map(lambda x, s=step: x + s, state))
  ckpt.wait()
  assert sorted(ckpt.all_steps()) == [4, 8, 9]
  restored = ckpt.restore({"w": jax.ShapeDtypeStruct((3,), jnp.float32)}, step=8)
  np.testing.assert_array_equal(restored["w"], np.arange(3.0) + 8)
  ckpt.close()


def test_save_interval(tmp_path):
  config = tiny(**{"train.checkpoint_every_steps": 3})
  ckpt = checkpointing.Checkpointer(str(tmp_path), config, async_save=False)
  saved = [s for s in range(1, 8) if ckpt.save(s, {"w": jnp.zeros(2)})]
  assert saved == [3, 6]
  assert ckpt.save(7, {"w": jnp.zeros(2)}, force=True)
  ckpt.close()


def test_a_step_already_saved_or_in_flight_is_not_saved_again(tmp_path):
  """The preemption path force-saves a step the schedule may have just saved (async)."""
  config = tiny(**{"train.checkpoint_every_steps": 1})
  ckpt = checkpointing.Checkpointer(str(tmp_path), config, async_save=True)
  assert ckpt.save(1, {"w": jnp.ones(4)})  # in flight
  assert not ckpt.save(1, {"w": jnp.zeros(4)}, force=True)  # no StepAlreadyExistsError
  ckpt.wait()
  assert not ckpt.save(1, {"w": jnp.zeros(4)}, force=True)  # finished
  restored = ckpt.restore({"w": jax.ShapeDtypeStruct((4,), jnp.float32)})
  np.testing.assert_array_equal(restored["w"], np.ones(4))  # the first save's values
  ckpt.close()


def test_nonfinite_leaves_on_a_sharded_state():
  mesh = jax.make_mesh((8,), ("data",))
  sh = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  w = np.arange(16, dtype=np.float32)
  w[15] = np.inf  # only in the last device's shard
  tree = {"a": jax.device_put(w, sh), "b": jax.device_put(np.ones(16, np.float32), sh),
          "c": jnp.asarray([np.nan], jnp.bfloat16), "n": jnp.int32(7)}
  assert checkpointing.nonfinite_leaves(tree) == ["['a']", "['c']"]
  assert checkpointing.nonfinite_leaves({"b": tree["b"], "n": tree["n"]}) == []


def test_refuses_to_write_nonfinite_state(tmp_path):
  config = tiny(**{"train.checkpoint_every_steps": 1})
  ckpt = checkpointing.Checkpointer(str(tmp_path), config, async_save=False)
  good = {"params": {"w": jnp.arange(3.0)}, "count": jnp.int32(1)}
  assert ckpt.save(1, good)
  bad = {"params": {"w": jnp.array([1.0, jnp.nan, 2.0])}, "count": jnp.int32(2)}
  for force in (False, True):
    with pytest.raises(checkpointing.NonFiniteStateError,
                       match=r"Refusing to write checkpoint step 2 .*NaN/Inf in 1 arrays "
                       r"\(\['params'\]\['w'\]\).*latest: step 1"):
      ckpt.save(2, bad, force=force)
  assert ckpt.all_steps() == [1]
  written = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name[0].isdigit()]
  assert written == ["1"]
  restored = ckpt.restore({"params": {"w": jax.ShapeDtypeStruct((3,), jnp.float32)},
                           "count": jax.ShapeDtypeStruct((), jnp.int32)})
  np.testing.assert_array_equal(restored["params"]["w"], np.arange(3.0))
  ckpt.close()


def test_config_json_round_trip():
  config = tiny(**{"loss.terms": (("image", "text", 2.0),), "model.focus.enabled": False,
                   "optim.frozen": ("text_tower/.*",)})
  back = checkpointing.config_from_json(checkpointing.config_to_json(config))
  config_lib.validate(back)
  assert back.loss.terms == (("image", "text", 2.0),)
  assert back.optim.frozen == ("text_tower/.*",)
  assert back.sharding.mesh == config.sharding.mesh
  assert back.to_dict() == config.to_dict()


def test_export_and_load_for_inference(tmp_path):
  config = tiny()
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(3))
  params["loss"] = {"log_temperature": jnp.float32(0.1)}
  checkpointing.export_params(str(tmp_path / "export"), params, config)
  model2, loaded, config2 = checkpointing.load_for_inference(str(tmp_path / "export"))
  assert "loss" not in loaded
  assert isinstance(jax.tree.leaves(loaded)[0], np.ndarray)
  jax.tree.map(np.testing.assert_array_equal, loaded,
               {k: v for k, v in jax.device_get(params).items() if k != "loss"})
  assert config2.model.image.variant == config.model.image.variant
  x = np.zeros((2, 32, 32, 3), np.float32)
  np.testing.assert_allclose(model2.apply({"params": loaded}, x, method=model2.encode_image),
                             model.apply({"params": params}, x, method=model.encode_image),
                             atol=1e-6)


def test_train_state_with_loss_parameters_restores_and_loads_for_inference(tmp_path):
  """Train states keep the objective's parameters under params['loss'] (as every checkpoint
  written so far): a resume restores them, inference loading returns the model's only."""
  config = tiny(**{"loss.type": "siglip", "train.checkpoint_every_steps": 1})
  model = models.build_model(config)
  tx = optax.sgd(0.1)
  state = train_state.init_state(model, config, tx, jax.random.key(5))
  state = state.replace(params={**state.params, "loss": {"logit_scale": jnp.float32(1.5),
                                                         "logit_bias": jnp.float32(-3.0)}})
  ckpt = checkpointing.Checkpointer(str(tmp_path), config, async_save=False)
  assert ckpt.save(1, state)
  restored = ckpt.restore(jax.eval_shape(
      lambda: train_state.init_state(model, config, tx, jax.random.key(0))))
  ckpt.close()
  assert float(restored.params["loss"]["logit_scale"]) == 1.5
  assert float(restored.params["loss"]["logit_bias"]) == -3.0
  _, loaded, _ = checkpointing.load_for_inference(str(tmp_path))
  expected = {k: v for k, v in jax.device_get(state.params).items() if k != "loss"}
  assert loaded.keys() == expected.keys()
  jax.tree.map(np.testing.assert_array_equal, loaded, expected)


def test_load_for_inference_names_what_it_expected(tmp_path):
  with pytest.raises(FileNotFoundError, match="expected a workdir"):
    checkpointing.load_for_inference(str(tmp_path))
