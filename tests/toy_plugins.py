"""A toy training source, evaluation dataset and evaluator, registered by tests/test_plugins.py
the way README 'Layout' describes (one file plus one line per table in plugins.py)."""

import os

import jax
import numpy as np

from input_pipeline import synthetic
from input_pipeline.eval_datasets import base


def source(config):
  """Six examples in train and in validation; example i has every image pixel = i / 255."""
  s, length = config.model.image.image_size, config.model.text.max_length

  def split(n):
    ex = synthetic.make_examples(n, s, length, seed=0)
    ex["image"] = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None],
                                  (n, s, s, 3)).copy()
    return ex
  return synthetic.from_arrays("toy", {config.data.train_split: split(6),
                                       config.data.val_split: split(6)})


def reader(path, *, fixed_grammar=False, paper_protocol=False, split="test"):
  """Classes are the lines of <path>/classes.txt; one in-memory image per class."""
  del fixed_grammar, paper_protocol
  with open(os.path.join(path, "classes.txt"), encoding="utf-8") as f:
    names = f.read().split()
  return base.EvalDataset(
      name="toy", task="species", classnames=names, prompts=[[f"a {n}."] for n in names], k=1,
      examples=[base.Example(source=i, label=i) for i in range(len(names))],
      arrays=np.zeros((len(names), 4, 4, 3), np.uint8), info={"split": split})


class Evaluator:
  """Reports the step and the number of parameter leaves."""

  name = "toy"

  def __init__(self, config, *, model, mesh, datasets, workdir=None):
    del config, model, mesh, workdir
    self.datasets = datasets

  def __call__(self, params, step):
    return {"toy/step": float(step), "toy/leaves": float(len(jax.tree.leaves(params)))}
