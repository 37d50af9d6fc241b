"""The one plug-in rule (focusclip_jax/plugins.py): a toy source, evaluation dataset and
evaluator registered by one table line each are validated, loaded and used by the same code
paths as the shipped ones; unknown names fail naming the config field."""

import numpy as np
import pytest

from focusclip_jax import config_lib
from focusclip_jax import evaluators
from focusclip_jax import plugins
from input_pipeline import eval_datasets
from input_pipeline import pipeline
from tests import toy_plugins
from tests.helpers import tiny


@pytest.fixture(name="toy")
def fixture_toy(monkeypatch):
  monkeypatch.setitem(plugins.SOURCES, "toy", "tests.toy_plugins:source")
  monkeypatch.setitem(plugins.EVAL_DATASETS, "toy", ("tests.toy_plugins:reader", "toy_dir"))
  monkeypatch.setitem(plugins.EVALUATORS, "toy", "tests.toy_plugins:Evaluator")
  return tiny(**{"data.dataset": "toy", "eval.tasks": ("toy",),
                 "eval.evaluators": ("toy", "val_loss"), "train.batch_size": 2})


def test_unknown_names_are_rejected_by_the_validator():
  config = tiny(**{"data.dataset": "toy", "eval.tasks": ("toy", "fer2013"),
                   "eval.evaluators": ("toy",)})
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.validate(config)
  msg = str(e.value)
  assert "config.data.dataset = 'toy': must be one of ['cub', 'mpii_pose_descriptions', " \
         "'synthetic']" in msg
  assert "config.eval.tasks" in msg and "unknown ['toy']" in msg
  assert "config.eval.evaluators" in msg and "'val_loss'" in msg
  with pytest.raises(ValueError, match=r"config.data.dataset: unknown 'toy'"):
    pipeline.get_source(config)
  with pytest.raises(ValueError, match=r"config.eval.tasks: unknown 'toy'"):
    eval_datasets.load("toy", "/nonexistent")


def test_toy_source_feeds_the_pipeline(toy):
  config_lib.validate(toy)
  ds = pipeline.create_datasets(toy, process_index=0, process_count=1)
  assert ds.source.name == "toy" and ds.num_train_examples == 6 and ds.steps_per_epoch == 3
  seen = np.concatenate([next(ds.train_iter(step))["image"][:, 0, 0, 0] for step in range(3)])
  np.testing.assert_array_equal(np.sort(np.round(seen * 255)), np.arange(6))  # one epoch


def test_toy_eval_dataset_is_read_from_its_folder(toy, tmp_path):
  del toy
  (tmp_path / "toy_dir").mkdir()
  (tmp_path / "toy_dir" / "classes.txt").write_text("cat\ndog\nemu\n")
  ds = eval_datasets.load("toy", str(tmp_path), split="val")
  assert ds.classnames == ["cat", "dog", "emu"] and ds.info == {"split": "val"}
  assert eval_datasets.default_folder("toy", str(tmp_path)) == str(tmp_path / "toy_dir")


def test_toy_evaluator_is_built_by_name(toy):
  assert plugins.load(plugins.EVALUATORS, "val_loss", "eval.evaluators") is evaluators.ValLoss
  toy.eval.evaluators = ("toy",)
  (ev,) = evaluators.build(toy, model=None, mesh=None, datasets="the datasets")
  assert isinstance(ev, toy_plugins.Evaluator) and ev.datasets == "the datasets"
  assert ev({"a": 1, "b": {"c": 2}}, 7) == {"toy/step": 7.0, "toy/leaves": 2.0}
