"""Config schema, validation messages, and the shipped configs."""

import importlib
import os
import re
import subprocess
import sys

import jax
import pytest

from focusclip_jax import config_files
from focusclip_jax import config_lib
from focusclip_jax import distributed
from tests.helpers import REPO


@pytest.mark.parametrize("name", ["vitb16", "clip_vitb16", "tiny"])
def test_shipped_configs_validate(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  assert config_lib.validate(config) is config


def test_paper_recipe_values():
  c = importlib.import_module("configs.vitb16").get_config()
  assert c.seed == 42
  assert (c.model.image.variant, c.model.image.image_size, c.model.image.pool) == ("B/16", 224,
                                                                                   "token")
  assert c.model.image.input_norm == "none"
  assert (c.model.text.variant, c.model.text.max_length, c.model.text.pooling) == (
      "bert-base", 512, "mean_all")
  assert c.model.embed_dim == 512
  assert c.model.focus.enabled and c.model.focus.shared_encoder
  assert c.model.focus.alpha_init == 0.5 and c.model.focus.alpha_param == "unconstrained"
  assert c.loss.type == "ntxent" and c.loss.temperature == 0.5 and not c.loss.learn_temperature
  assert tuple(map(tuple, c.loss.terms)) == (("focus", "image", 1.0), ("focus", "text", 1.0),
                                             ("image", "text", 1.0))
  assert (c.optim.name, c.optim.learning_rate, c.optim.momentum, c.optim.nesterov) == (
      "sgd", 5e-4, 0.9, False)
  assert c.optim.weight_decay == 0 and c.optim.schedule == "constant"
  assert c.optim.grad_clip_norm == 1.0
  assert (c.train.batch_size, c.train.num_epochs) == (32, 64)
  assert c.model.dtype == "float32"
  assert "B_16-i21k-300ep" in c.model.image.init and c.model.text.init == "bert-base-uncased"


def test_clip_baseline_config():
  c = importlib.import_module("configs.clip_vitb16").get_config()
  assert not c.model.focus.enabled
  assert tuple(map(tuple, c.loss.terms)) == (("image", "text", 1.0),)


def test_unknown_key_is_rejected_with_hint():
  c = config_lib.base_config()
  c.optim.lerning_rate = 0.1
  with pytest.raises(config_lib.ConfigError, match=r"unknown key 'optim.lerning_rate'.*"
                     r"did you mean 'optim.learning_rate'"):
    config_lib.validate(c)


@pytest.mark.parametrize("path,value,msg", [
    ("model.text.pooling", "max", "must be one of"),
    ("model.image.variant", "X/16", "Unknown ViT variant"),
    ("model.text.variant", "roberta", "must be one of"),
    ("model.focus.alpha_param", "tanh", "must be one of"),
    ("optim.name", "lamb", "must be one of"),
    ("train.batch_size", 0, "must be > 0"),
    ("loss.terms", (("image", "image", 1.0),), "a != b"),
    ("sharding.mesh", (("data", -1), ("fsdp", -1)), "at most one axis"),
    ("optim.frozen", ("text_tower/[",), "invalid regex"),
    ("xla_flags", "xla_cpu_max_isa=AVX2", "--name=value flags"),
    # Optimizer settings that can only produce non-finite or meaningless updates.
    ("optim.learning_rate", 0.0, "must be a finite number > 0"),
    ("optim.learning_rate", -1e-3, "must be a finite number > 0"),
    ("optim.learning_rate", float("nan"), "must be a finite number > 0"),
    ("optim.learning_rate", 1e39, "must be a finite number > 0"),  # Inf in float32
    ("optim.momentum", -0.1, r"must be in \[0, 1\)"),
    ("optim.momentum", 1.0, r"must be in \[0, 1\)"),
    ("optim.b2", 1.5, r"must be in \[0, 1\)"),
    ("optim.eps", 0.0, "must be a finite number > 0"),
    ("optim.weight_decay", -1e-4, "must be a finite number >= 0"),
    ("optim.weight_decay", float("inf"), "must be a finite number >= 0"),
    ("optim.grad_clip_norm", float("nan"), "must be a finite number"),
    ("optim.warmup_steps", -5, "must be an int >= 0"),
    ("optim.end_lr_factor", -0.5, "must be a finite number >= 0"),
    ("optim.lr_multipliers", (("text_tower/.*", -1.0),), "multipliers must be finite numbers >= 0"),
    ("loss.temperature", float("inf"), "must be a finite number > 0"),
    ("model.text.dropout", 1.0, r"must be in \[0, 1\)"),
])
def test_invalid_values_are_rejected(path, value, msg):
  c = config_lib.base_config()
  *parents, leaf = path.split(".")
  node = c
  for p in parents:
    node = node[p]
  node[leaf] = value
  # The message names the field and its value, then the rule.
  named = re.escape(f"config.{path} = {value!r}: ")
  with pytest.raises(config_lib.ConfigError, match=named + ".*" + msg):
    config_lib.validate(c)


@pytest.mark.parametrize("path,value", [
    ("optim.grad_clip_norm", 0.0),  # clipping off
    ("optim.grad_clip_norm", -1.0),  # also off (<= 0 disables)
    ("optim.momentum", 0.0),
    ("optim.learning_rate", 1e-12),
    ("optim.weight_decay", 0.1),
    ("model.text.dropout", 0.0),
])
def test_boundary_values_are_accepted(path, value):
  *parents, leaf = path.split(".")
  c = config_lib.base_config()
  node = c
  for p in parents:
    node = node[p]
  node[leaf] = value
  config_lib.validate(c)


def test_cross_field_rules():
  c = config_lib.base_config()
  c.model.image.image_size = 230
  with pytest.raises(config_lib.ConfigError, match="not a multiple of the patch size 16"):
    config_lib.validate(c)
  c = config_lib.base_config()
  c.model.focus.enabled = False  # but the loss still asks for 'focus'
  with pytest.raises(config_lib.ConfigError, match="CLIP baseline"):
    config_lib.validate(c)
  c = config_lib.base_config()
  c.model.text.max_length = 1024
  with pytest.raises(config_lib.ConfigError, match="exceeds"):
    config_lib.validate(c)


def test_several_problems_reported_together():
  c = config_lib.base_config()
  c.train.batch_size = -1
  c.model.dtype = "float64"
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.validate(c)
  assert "train.batch_size" in str(e.value) and "model.dtype" in str(e.value)


def _main(*args):
  return subprocess.run([sys.executable, str(REPO / "main.py"), *args], capture_output=True,
                        text=True, cwd=REPO, timeout=300)


def test_main_rejects_unknown_override_and_bad_value():
  r = _main("--config=configs/tiny.py", "--mode=summary", "--config.optim.lerning_rate=1")
  assert r.returncode != 0 and "lerning_rate" in r.stderr
  # A bad value: refused by config_lib.validate, the first call main.py makes (in this process).
  config = config_files.load(str(REPO / "configs" / "tiny.py"), ["model.text.pooling=max"])
  with pytest.raises(config_lib.ConfigError, match=r"model\.text\.pooling.*must be one of"):
    config_lib.validate(config)


def test_main_names_a_missing_config_file():
  for args in (["--config=configs/no_such.py"],
               ["--config", "configs/no_such.py", "--config.train.batch_size=4"]):
    r = _main(*args, "--mode=summary")
    assert r.returncode != 0
    assert str(REPO / "configs" / "no_such.py") in r.stderr and "not found" in r.stderr
    assert "configs/ (" in r.stderr and "tiny.py" in r.stderr  # where the shipped ones are
    assert "config_config" not in r.stderr


def test_config_file_loading_and_overrides(tmp_path):
  """config_files.load: get_config(arg) by path, key=value overrides parsed as literals, list ->
  tuple for tuple fields, unknown keys and missing files named."""
  path = str(REPO / "configs" / "demo.py")
  config = config_files.load(path, ["train.batch_size=12", "model.image.pool=gap",
                                    "data.augment.crop_area=[0.5, 1.0]", "config.seed=3"],
                             arg="clip")
  assert config.train.batch_size == 12 and config.model.image.pool == "gap"
  assert config.data.augment.crop_area == (0.5, 1.0) and config.seed == 3
  assert not config.model.focus.enabled  # the 'clip' arg reached get_config
  with pytest.raises(KeyError, match="no field 'train.batch_sise'"):
    config_files.apply_override(config, "train.batch_sise=4")
  with pytest.raises(KeyError, match="no section 'trian'"):
    config_files.apply_override(config, "trian.batch_size=4")
  with pytest.raises(ValueError, match="expected key=value"):
    config_files.apply_override(config, "train.batch_size")
  with pytest.raises(FileNotFoundError, match="configs/vitb16.py"):
    config_files.load(str(tmp_path / "nope.py"))


def test_xla_flags_are_applied_once_and_only_before_jax_starts(monkeypatch):
  """distributed.apply_xla_flags: flags already in $XLA_FLAGS are a no-op; a missing one after
  the backend started (as here: the suite's 8 devices) raises, naming the fix."""
  jax.devices()
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_a=1")
  distributed.apply_xla_flags("")
  distributed.apply_xla_flags("--xla_a=1")
  with pytest.raises(RuntimeError, match=r"already started its backend.*XLA_FLAGS"):
    distributed.apply_xla_flags("--xla_a=1 --xla_cpu_max_isa=AVX2")
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8 --xla_a=1"
